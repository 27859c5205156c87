//! The arithmetic checks that turn a digit-shaped candidate into a payment identifier: the Luhn
//! check and issuer prefixes for card numbers, the ISO 13616 mod-97 check and per-country
//! lengths for IBANs. They work on the compact form (separators already removed), hold no state
//! and allocate nothing, so the recognizers can call them on every candidate.

/// Whether `digits` (ASCII digits only) passes the Luhn check that every card number carries.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether `digits` starts with a card issuer's prefix (IIN) at a length that issuer uses:
/// Visa, Mastercard (51-55 and 2221-2720), American Express, Diners, JCB, Discover, UnionPay
/// and Maestro. A Luhn-valid number outside these (a 16-digit order number starting with 9,
/// say) is one chance in ten of any number, so the prefix keeps it from being taken for a card.
pub fn card_prefix_valid(digits: &str) -> bool {
    let len = digits.len();
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
    let (Some(p1), Some(p2)) = (prefix(1), prefix(2)) else {
        return false;
    };
    let p3 = prefix(3).unwrap_or(0);
    let p4 = prefix(4).unwrap_or(0);
    let long = (16..=19).contains(&len);
    match p1 {
        4 => (13..=19).contains(&len),
        2 => (2221..=2720).contains(&p4) && len == 16,
        5 => match p2 {
            51..=55 => len == 16,
            50 | 56..=58 => (13..=19).contains(&len),
            _ => false,
        },
        3 => match p2 {
            34 | 37 => len == 15,
            30 => (300..=305).contains(&p3) && (14..=19).contains(&len),
            36 | 38 | 39 => (14..=19).contains(&len),
            35 => (3528..=3589).contains(&p4) && long,
            _ => false,
        },
        // Discover (6011, 644-649, 65), UnionPay (62) and Maestro (the rest of 6).
        6 => (13..=19).contains(&len),
        _ => false,
    }
}

/// The IBAN length a country prescribes (ISO 13616 registry), or `None` for a country code
/// outside the table; those fall back to the generic 15-34 characters.
pub fn iban_length(country: &str) -> Option<usize> {
    let len = match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" | "SD" | "FK" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" | "MN" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" | "SO" | "OM" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" | "LY" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" | "BI" | "DJ" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" | "NI" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" | "YE" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
        _ => return None,
    };
    Some(len)
}

/// Whether `iban` (compact: no spaces, upper case) has a valid ISO 13616 mod-97 checksum: the
/// first four characters moved to the end, letters read as 10-35, the number mod 97 is 1.
pub fn iban_mod97_valid(iban: &str) -> bool {
    let bytes = iban.as_bytes();
    if bytes.len() < 5
        || !bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    let rotated = bytes[4..].iter().chain(&bytes[..4]);
    let mut rem: u32 = 0;
    for &b in rotated {
        rem = if b.is_ascii_digit() {
            (rem * 10 + u32::from(b - b'0')) % 97
        } else {
            (rem * 100 + u32::from(b - b'A') + 10) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_known_test_numbers_and_rejects_a_changed_digit() {
        for n in [
            "4111111111111111",
            "5500005555555559",
            "378282246310005",
            "6011111111111117",
        ] {
            assert!(luhn_valid(n), "{n}");
        }
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111 1111"));
    }

    #[test]
    fn card_prefixes_follow_the_issuers() {
        assert!(card_prefix_valid("4111111111111111"));
        assert!(card_prefix_valid("2221000000000009"));
        assert!(card_prefix_valid("378282246310005"));
        assert!(!card_prefix_valid("3782822463100050")); // Amex is 15 digits
        assert!(!card_prefix_valid("9111111111111111"));
        assert!(!card_prefix_valid("1234567812345670"));
        assert!(!card_prefix_valid("2000000000000000"));
        assert!(!card_prefix_valid(""));
    }

    #[test]
    fn iban_checksum_and_lengths() {
        for iban in [
            "DE89370400440532013000",
            "GB82WEST12345698765432",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "BE68539007547034",
        ] {
            assert!(iban_mod97_valid(iban), "{iban}");
            assert_eq!(iban_length(&iban[..2]), Some(iban.len()), "{iban}");
        }
        assert!(!iban_mod97_valid("DE89370400440532013001"));
        assert!(!iban_mod97_valid("de89370400440532013000"));
        assert_eq!(iban_length("ZZ"), None);
    }
}
