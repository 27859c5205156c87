//! The near-misses of the generated PII corpus: text that looks like personal data and is not
//! (an invalid-Luhn card number, an IBAN with a wrong checksum, version strings, invalid octets,
//! dates, prices, order numbers, times, MAC addresses, code paths, ISBNs, serials). The corpus
//! plants none of it, so every hit inside counts against precision.

use super::{group, Gen, FIRST};

impl Gen {
    /// Text that looks like personal data and is not.
    pub(super) fn near_miss(&mut self) {
        let s = match self.rng.u8(0..14) {
            0 => {
                let good = self.card_digits();
                let last = good.as_bytes()[good.len() - 1] - b'0';
                let bad = format!("{}{}", &good[..good.len() - 1], (last + 1) % 10);
                format!("Ref {} (not a card).", group(&bad, self.rng.u8(0..3)))
            }
            1 => format!("Bad IBAN {} rejected.", self.iban(false)),
            2 => format!(
                "Running v{}.{}.{}.{} now.",
                self.rng.u8(0..20),
                self.rng.u8(0..20),
                self.rng.u8(0..20),
                self.rng.u8(0..99)
            ),
            3 => format!(
                "Upgraded to version {}.{}.{}.{} today.",
                self.rng.u8(1..20),
                self.rng.u8(0..10),
                self.rng.u8(0..10),
                self.rng.u8(1..99)
            ),
            4 => format!(
                "Build {}.{}.{}.{}.{} is out.",
                self.rng.u8(0..9),
                self.rng.u8(0..9),
                self.rng.u8(0..9),
                self.rng.u8(0..9),
                self.rng.u8(0..9)
            ),
            5 => format!(
                "Bad address {}.{}.1.1 ignored.",
                self.rng.u16(256..=999),
                self.rng.u8(0..9)
            ),
            6 => format!(
                "Due 20{:02}-{:02}-{:02}, or {:02}.{:02}.2024.",
                self.rng.u8(10..30),
                self.rng.u8(1..13),
                self.rng.u8(1..29),
                self.rng.u8(1..29),
                self.rng.u8(1..13)
            ),
            7 => format!(
                "Total ${},{:03}.{:02} incl. tax, or EUR {}.{:02}.",
                self.rng.u8(1..9),
                self.rng.u16(0..1000),
                self.rng.u8(0..100),
                self.rng.u16(1..999),
                self.rng.u8(0..100)
            ),
            8 => format!(
                "Order #{} shipped, ticket {}.",
                self.digits(8),
                self.digits(10)
            ),
            9 => format!(
                "Room {}, {} items, gate B{}.",
                self.rng.u8(1..99),
                self.rng.u8(2..9),
                self.rng.u8(1..40)
            ),
            10 => format!(
                "Meet at {:02}:{:02}:00 by the 00:1a:2b:3c:4d:{:02x}.",
                self.rng.u8(0..24),
                self.rng.u8(0..60),
                self.rng.u8(..)
            ),
            11 => format!(
                "Use std::net::IpAddr and @{} on example.com.",
                self.pick(&FIRST)
            ),
            12 => format!(
                "Years 19{}-20{:02}, ext. {}, ISBN 978-{}-{}.",
                self.rng.u8(50..99),
                self.rng.u8(0..25),
                self.digits(4),
                self.digits(2),
                self.digits(6)
            ),
            _ => format!(
                "Serial {}-{}-{}.",
                self.digits(4),
                self.digits(4),
                self.digits(4)
            ),
        };
        self.text.push_str(&s);
    }
}
