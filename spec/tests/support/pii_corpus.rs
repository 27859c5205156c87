//! A generated corpus of text rows with planted personal data of every entity type, in several
//! formats each, mixed with near-misses that must not be redacted (invalid-Luhn numbers, IBANs
//! with a wrong checksum, version strings, dates, prices, order numbers). A seeded RNG makes it
//! the same on every run, so no data is committed. Used by the corpus test (recall/precision)
//! and by the throughput example.

use finetune_spec::redact::{iban_mod97_valid, luhn_valid, Entity};

#[path = "near_misses.rs"]
mod near_misses;

/// One planted value: its entity and byte range in the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planted {
    pub entity: Entity,
    pub start: usize,
    pub end: usize,
}

/// One row of text and what was planted in it.
#[derive(Debug, Clone)]
pub struct Row {
    pub text: String,
    pub planted: Vec<Planted>,
}

/// `rows` rows from `seed`: each holds one to four fragments, about half of them planted values,
/// a third near-misses, the rest plain prose.
pub fn corpus(seed: u64, rows: usize) -> Vec<Row> {
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(seed),
        text: String::new(),
        planted: Vec::new(),
    };
    (0..rows)
        .map(|_| {
            for i in 0..g.rng.usize(1..=4) {
                if i > 0 {
                    g.text.push(' ');
                }
                match g.rng.u8(0..6) {
                    0..=2 => g.pii(),
                    3 | 4 => g.near_miss(),
                    _ => g.prose(),
                }
            }
            Row {
                text: std::mem::take(&mut g.text),
                planted: std::mem::take(&mut g.planted),
            }
        })
        .collect()
}

struct Gen {
    rng: fastrand::Rng,
    text: String,
    planted: Vec<Planted>,
}

pub(crate) const FIRST: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const LAST: [&str; 6] = ["smith", "jones", "garcia", "muller", "dubois", "rossi"];
const DOMAINS: [&str; 6] = [
    "example.com",
    "mail.example.org",
    "dept.example.co.uk",
    "example.net",
    "corp.example.io",
    "example.de",
];
const US_AREAS: [u32; 10] = [212, 415, 617, 312, 646, 202, 305, 713, 206, 303];
const PROSE: [&str; 6] = [
    "Thanks for the quick reply.",
    "The flight was delayed again, no message at all.",
    "I will call back tomorrow morning.",
    "Great service, see you next time!",
    "Please forward this to the team.",
    "Nothing else to add for now.",
];

impl Gen {
    pub(crate) fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| self.rng.digit(10)).collect()
    }

    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.usize(..items.len())]
    }

    fn prose(&mut self) {
        let s = self.pick(&PROSE);
        self.text.push_str(s);
    }

    /// `before`, the value (recorded as planted), `after`.
    fn plant(&mut self, entity: Entity, before: &str, value: &str, after: &str) {
        self.text.push_str(before);
        let start = self.text.len();
        self.text.push_str(value);
        self.planted.push(Planted {
            entity,
            start,
            end: self.text.len(),
        });
        self.text.push_str(after);
    }

    fn pii(&mut self) {
        match self.rng.u8(0..6) {
            0 => {
                let v = self.email();
                let (b, a) = *self
                    .rng
                    .choice(&[
                        ("Mail me at ", "."),
                        ("Contact: ", " (work)"),
                        ("cc ", ", thanks"),
                    ])
                    .unwrap();
                self.plant(Entity::Email, b, &v, a);
            }
            1 => {
                let v = self.phone();
                let (b, a) = *self
                    .rng
                    .choice(&[
                        ("Call me on ", " after 6pm."),
                        ("Tel: ", ""),
                        ("phone ", " 2 times"),
                    ])
                    .unwrap();
                self.plant(Entity::Phone, b, &v, a);
            }
            2 => {
                let v = self.card();
                let (b, a) = *self
                    .rng
                    .choice(&[
                        ("Card number ", " exp 12/26."),
                        ("paid with ", ""),
                        ("CC#", "."),
                    ])
                    .unwrap();
                self.plant(Entity::CreditCard, b, &v, a);
            }
            3 => {
                let v = self.iban(true);
                let (b, a) = *self
                    .rng
                    .choice(&[
                        ("IBAN: ", " EUR"),
                        ("Send it to ", "."),
                        ("account ", " please"),
                    ])
                    .unwrap();
                self.plant(Entity::Iban, b, &v, a);
            }
            4 => {
                let v = self.ip();
                let (b, a) = *self
                    .rng
                    .choice(&[("Login from ", " blocked."), ("IP ", ":8080"), ("(", ")")])
                    .unwrap();
                // An IPv6 address takes a port only in brackets.
                let (b, a) = if a == ":8080" && v.contains(':') {
                    ("IP [", "]:8080")
                } else {
                    (b, a)
                };
                self.plant(Entity::Ip, b, &v, a);
            }
            _ => {
                let v = self.url();
                let (b, a) = *self
                    .rng
                    .choice(&[("See ", "."), ("link: ", " now"), ("[docs](", ")")])
                    .unwrap();
                self.plant(Entity::Url, b, &v, a);
            }
        }
    }

    fn email(&mut self) -> String {
        let (f, l, d) = (self.pick(&FIRST), self.pick(&LAST), self.pick(&DOMAINS));
        match self.rng.u8(0..5) {
            0 => format!("{f}.{l}@{d}"),
            1 => format!("{f}+news@{d}"),
            2 => format!("{f}_{l}{}@{d}", self.rng.u8(1..99)),
            3 => format!("{}{l}@{}", &f[..1], d.to_uppercase()),
            _ => format!("{f}.{l}+{}@{d}", self.pick(&["shop", "work", "x1"])),
        }
    }

    fn phone(&mut self) -> String {
        let area = US_AREAS[self.rng.usize(..US_AREAS.len())];
        let exch = self.rng.u32(200..=999);
        let exch = if exch == 555 || exch % 100 == 11 {
            734
        } else {
            exch
        };
        let sub = self.digits(4);
        match self.rng.u8(0..12) {
            0 => format!("({area}) {exch}-{sub}"),
            1 => format!("{area}-{exch}-{sub}"),
            2 => format!("{area}.{exch}.{sub}"),
            3 => format!("+1 {area} {exch} {sub}"),
            4 => format!("+1-{area}-{exch}-{sub}"),
            5 => format!("+44 20 7946 0{}", self.digits(3)),
            // UK mobiles are 071-075 and 077-079 (076 is pagers).
            6 => format!(
                "+44 7{}{} {}",
                self.pick(&["4", "5", "7", "8", "9"]),
                self.digits(2),
                self.digits(6)
            ),
            7 => format!("+49 30 {}{}", self.rng.u8(2..=9), self.digits(6)),
            8 => format!(
                "+33 1 4{} {} {} {}",
                self.digits(1),
                self.digits(2),
                self.digits(2),
                self.digits(2)
            ),
            9 => format!("+49 151 {}", self.digits(8)),
            10 => format!("1-{area}-{exch}-{sub}"),
            _ => format!("+91 98{} {}", self.digits(3), self.digits(5)),
        }
    }

    /// A number with a valid issuer prefix and length: the check digit comes from trying all ten.
    pub(crate) fn card_digits(&mut self) -> String {
        let (prefix, len) = *self
            .rng
            .choice(&[
                ("4", 16),
                ("4", 13),
                ("51", 16),
                ("55", 16),
                ("2221", 16),
                ("34", 15),
                ("37", 15),
                ("6011", 16),
                ("3530", 16),
                ("36", 14),
            ])
            .unwrap();
        let body = format!("{prefix}{}", self.digits(len - prefix.len() - 1));
        (0..10)
            .map(|d| format!("{body}{d}"))
            .find(|n| luhn_valid(n))
            .expect("one check digit fits")
    }

    fn card(&mut self) -> String {
        let digits = self.card_digits();
        group(&digits, self.rng.u8(0..3))
    }

    /// An IBAN of one of ten countries, compact or in groups of four; `valid: false` gives one
    /// whose check digits are wrong.
    pub(crate) fn iban(&mut self, valid: bool) -> String {
        let (country, bban) = match self.rng.u8(0..10) {
            0 => ("DE", self.digits(18)),
            1 => (
                "GB",
                format!(
                    "{}{}",
                    self.pick(&["WEST", "NWBK", "BARC"]),
                    self.digits(14)
                ),
            ),
            2 => ("FR", format!("{}{}", self.digits(21), self.digits(2))),
            3 => (
                "NL",
                format!(
                    "{}{}",
                    self.pick(&["ABNA", "INGB", "RABO"]),
                    self.digits(10)
                ),
            ),
            4 => ("ES", self.digits(20)),
            5 => ("IT", format!("X{}", self.digits(22))),
            6 => ("BE", self.digits(12)),
            7 => ("CH", self.digits(17)),
            8 => ("PL", self.digits(24)),
            _ => ("AT", self.digits(16)),
        };
        let with = |check: u32| format!("{country}{check:02}{bban}");
        let good = (2..=98)
            .find(|&c| iban_mod97_valid(&with(c)))
            .expect("one pair of check digits fits");
        let compact = if valid {
            with(good)
        } else {
            with(if good == 98 { 2 } else { good + 1 })
        };
        if self.rng.bool() {
            compact
        } else {
            compact
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    fn ip(&mut self) -> String {
        let hex: Vec<String> = (0..8)
            .map(|_| format!("{:x}", self.rng.u16(1..=0xffff)))
            .collect();
        match self.rng.u8(0..6) {
            0..=2 => {
                let o = [
                    self.rng.u8(1..=223),
                    self.rng.u8(..),
                    self.rng.u8(..),
                    self.rng.u8(1..=254),
                ];
                format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
            }
            3 => hex.join(":"),
            4 => format!("2001:db8::{}", hex[..2].join(":")),
            _ => format!(
                "::ffff:10.{}.{}.{}",
                self.rng.u8(..),
                self.rng.u8(..),
                self.rng.u8(1..=254)
            ),
        }
    }

    fn url(&mut self) -> String {
        let d = self.pick(&DOMAINS);
        let n = self.rng.u32(1..99999);
        match self.rng.u8(0..5) {
            0 => format!("https://www.{d}/path/to/page"),
            1 => format!("http://{d}/search?q=term&page={n}"),
            2 => format!("www.{d}/about"),
            3 => format!("https://shop.{d}/item/{n}?ref=mail#top"),
            _ => format!("https://{d}"),
        }
    }
}

/// A card number written compact (0), in groups of four with spaces (1) or dashes (2); American
/// Express (15 digits) groups as 4-6-5.
pub(crate) fn group(digits: &str, style: u8) -> String {
    let sep = match style {
        0 => return digits.to_string(),
        1 => " ",
        _ => "-",
    };
    let cuts: Vec<usize> = if digits.len() == 15 {
        vec![4, 10]
    } else {
        (4..digits.len()).step_by(4).collect()
    };
    let mut out = String::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([digits.len()]) {
        if at > 0 {
            out.push_str(sep);
        }
        out.push_str(&digits[at..c]);
        at = c;
    }
    out
}
