//! Checks on input values that a JSON Schema does not express: formats Checkr insists on,
//! country and state codes, dates. Each returns whether the value is acceptable; callers
//! record problems with [`terapi_sdk::InputErrors`] without quoting the value.

use terapi_sdk::InputErrors;

/// `local@domain.tld` as the `email` format Checkr's description uses accepts it: an
/// ASCII dot-atom local part (letters, digits and ``!#$%&'*+/=?^_`{|}~-``, dots between
/// them), and a domain of two or more labels of letters, digits and inner hyphens.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let atom_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    !local.is_empty()
        && local.len() <= 64
        && value.len() <= 254
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atom_char))
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Whether `c` is one of the characters Checkr's published name pattern allows:
/// `[a-zA-Z0-9ªµºÀ-ÖØ-öø-ÿ\-'., ]`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, 'ª' | 'µ' | 'º' | 'À'..='Ö' | 'Ø'..='ö' | 'ø'..='ÿ')
        || matches!(c, '-' | '\'' | '.' | ',' | ' ')
}

/// A name as Checkr accepts it: only the characters of its published pattern (see
/// [`is_name_char`]), and at least one letter.
pub fn is_name(value: &str) -> bool {
    value.chars().any(char::is_alphabetic) && value.chars().all(is_name_char)
}

/// A calendar date written `YYYY-MM-DD`; returns `(year, month, day)`.
pub fn parse_date(value: &str) -> Option<(i32, u32, u32)> {
    let bytes = value.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = value.get(range)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let month = number(5..7)?;
    let day = number(8..10)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date (proleptic Gregorian) of a day counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Seconds since the Unix epoch as an RFC 3339 date-time in UTC
/// (`2024-01-31T12:00:00Z`): the `date-time` Checkr's query parameters take.
pub fn rfc3339_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Today, as days since 1970-01-01 (UTC), if the sandbox's clock works.
pub fn today() -> Option<i64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    i64::try_from(now.as_secs() / 86_400).ok()
}

/// An ISO 8601 date (`2024-01-31`) or RFC 3339 date-time (`2024-01-31T12:00:00Z`,
/// `2024-01-31T12:00:00.5+02:00`); returns seconds since the Unix epoch, for comparisons.
pub fn parse_timestamp(value: &str) -> Option<i64> {
    let (year, month, day) = parse_date(value.get(..10)?)?;
    let days = days_from_civil(year, month, day);
    let rest = &value[10..];
    if rest.is_empty() {
        return Some(days * 86_400);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let time = rest.get(..8)?;
    let bytes = time.as_bytes();
    if bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    let field = |range: std::ops::Range<usize>, max: u32| -> Option<i64> {
        let digits = time.get(range)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u32 = digits.parse().ok()?;
        (value <= max).then_some(i64::from(value))
    };
    let seconds = field(0..2, 23)? * 3600 + field(3..5, 59)? * 60 + field(6..8, 60)?;
    let mut zone = &rest[8..];
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        zone = &fraction[digits..];
    }
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone_bytes = zone.as_bytes();
            if zone.len() != 6 || zone_bytes[3] != b':' {
                return None;
            }
            let part = |range: std::ops::Range<usize>, max: u32| -> Option<i64> {
                let digits = zone.get(range)?;
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let value: u32 = digits.parse().ok()?;
                (value <= max).then_some(i64::from(value))
            };
            sign * (part(1..3, 23)? * 3600 + part(4..6, 59)? * 60)
        }
    };
    Some(days * 86_400 + seconds - offset)
}

/// Nine digits, bare or as `XXX-XX-XXXX`, and not a number the SSA never issues (area
/// 000, 666 or 9xx, group 00, serial 0000) nor one Checkr refuses as a placeholder (one
/// repeated digit, `123456789`).
pub fn is_ssn(value: &str) -> bool {
    let bytes = value.as_bytes();
    let digits: String = match bytes.len() {
        9 => value.to_string(),
        11 if bytes[3] == b'-' && bytes[6] == b'-' => value.replace('-', ""),
        _ => return false,
    };
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (area, group, serial) = (&digits[..3], &digits[3..5], &digits[5..]);
    let first = digits.as_bytes()[0];
    !(area == "000"
        || area == "666"
        || area.starts_with('9')
        || group == "00"
        || serial == "0000"
        || digits.bytes().all(|b| b == first)
        || digits == "123456789")
}

/// A US ZIP code: `12345` or `12345-6789`.
pub fn is_zipcode(value: &str) -> bool {
    let bytes = value.as_bytes();
    match bytes.len() {
        5 => bytes.iter().all(u8::is_ascii_digit),
        10 => {
            bytes[5] == b'-'
                && bytes[..5].iter().all(u8::is_ascii_digit)
                && bytes[6..].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// A phone number: 10 to 15 digits, optionally with `+`, spaces, dots, hyphens and
/// parentheses.
pub fn is_phone(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    (10..=15).contains(&digits)
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '.' | '-' | '(' | ')'))
}

/// An `Idempotency-Key` a caller may choose: 1 to 255 visible ASCII characters.
pub fn is_idempotency_key(value: &str) -> bool {
    (1..=255).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Records an error under `idempotency_key` when the input sets one that is not a valid
/// key (see [`is_idempotency_key`]).
pub fn check_idempotency_key(key: Option<&str>, errors: &mut InputErrors) {
    if key.is_some_and(|key| !is_idempotency_key(key.trim())) {
        errors.add(
            "idempotency_key",
            "must be 1 to 255 visible ASCII characters",
        );
    }
}

/// Two-letter codes of the US states, the District of Columbia and the inhabited
/// territories.
const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP",
];

/// Whether `code` (upper case) is a US state, DC or territory code.
pub fn is_us_state(code: &str) -> bool {
    US_STATES.contains(&code)
}

/// ISO 3166-1 alpha-2: every officially assigned code.
const COUNTRIES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Whether `code` (upper case) is an assigned ISO 3166-1 alpha-2 country code.
pub fn is_country_code(code: &str) -> bool {
    COUNTRIES.contains(&code)
}

/// A Checkr id or custom id used in a path or filter: not blank, at most 255 characters,
/// no control characters.
pub fn is_identifier(value: &str) -> bool {
    !value.trim().is_empty() && value.len() <= 255 && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("jane.doe@example.com"));
        assert!(is_email("a+tag@sub.example.co.uk"));
        for bad in [
            "",
            "jane",
            "@example.com",
            "jane@",
            "jane@localhost",
            "jane@@example.com",
            "ja ne@example.com",
            "jane@example..com",
            "jane@-example.com",
            "jane..doe@example.com",
            ".jane@example.com",
            "\"jane\"@example.com",
            "jané@example.com",
            "jane@exa_mple.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_name("Mary-Jane O'Neil, Jr."));
        assert!(is_name("José"));
        assert!(is_name("Ærøskøbing"));
        assert!(!is_name("Łukasz"), "outside Checkr's pattern");
        assert!(!is_name("Иван"));
        assert!(!is_name("Jo×n"));
        assert!(!is_name("R2-D2!"));
        assert!(!is_name("123"));
        assert!(!is_name(""));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1990-04-27"), Some((1990, 4, 27)));
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("2000-02-29"), Some((2000, 2, 29)));
        for bad in [
            "1900-02-29",
            "2023-02-29",
            "1990-04-31",
            "1990-13-01",
            "1990-00-10",
            "1990-4-27",
            "27/04/1990",
            "1990-04-27T00:00:00Z",
            "+990-04-27",
            "١٩٩٠-04-27",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert!(today().is_some_and(|today| today > days_from_civil(2024, 1, 1)));
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400));
        assert_eq!(parse_timestamp("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.250-00:30"), Some(1800));
        assert_eq!(
            parse_timestamp("2024-01-31T12:00:00Z"),
            Some(days_from_civil(2024, 1, 31) * 86_400 + 43_200)
        );
        for bad in [
            "yesterday",
            "2024-01-31T",
            "2024-01-31T25:00:00Z",
            "2024-01-31T12:00:00",
            "2024-01-31T12:00:00+0100",
            "2024-01-31T12:00:00.Z",
            "2024-01-31 12:00",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn date_times_are_written_as_checkr_reads_them() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
        for value in [
            "2024-01-31",
            "2024-02-29T23:59:59Z",
            "2000-03-01T00:00:00Z",
            "1900-01-01",
        ] {
            let seconds = parse_timestamp(value).expect("parses");
            let written = rfc3339_utc(seconds);
            assert_eq!(
                parse_timestamp(&written),
                Some(seconds),
                "{value} → {written}"
            );
        }
        let offset = parse_timestamp("2024-01-31T01:30:00.75+02:00").expect("parses");
        assert_eq!(rfc3339_utc(offset), "2024-01-30T23:30:00Z");
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn ssns() {
        assert!(is_ssn("847-43-4645"));
        assert!(is_ssn("847434645"));
        for bad in [
            "666-43-4645",
            "000-43-4645",
            "947-43-4645",
            "847-00-4645",
            "847-43-0000",
            "111-11-1111",
            "123-45-6789",
            "84743464",
            "847-434-645",
            "84-7434-645",
            "abc-de-fghi",
        ] {
            assert!(!is_ssn(bad), "{bad}");
        }
    }

    #[test]
    fn zip_phone_codes_keys() {
        assert!(is_zipcode("94107") && is_zipcode("94107-1234"));
        assert!(!is_zipcode("9410") && !is_zipcode("94107 1234") && !is_zipcode("ABCDE"));
        assert!(is_phone("415-555-0100") && is_phone("+44 (20) 7946 0958"));
        assert!(!is_phone("555-0100") && !is_phone("415-555-0100 ext 2"));
        assert!(is_country_code("US") && is_country_code("GB") && is_country_code("CA"));
        assert!(!is_country_code("XX") && !is_country_code("UK") && !is_country_code("us"));
        assert!(is_us_state("CA") && is_us_state("DC") && is_us_state("PR"));
        assert!(!is_us_state("ZZ") && !is_us_state("ON"));
        assert!(is_idempotency_key("order-77"));
        assert!(!is_idempotency_key("") && !is_idempotency_key("has space"));
        assert!(!is_idempotency_key(&"k".repeat(256)));
        assert!(is_identifier("e44aa283528e6fde7d542194"));
        assert!(!is_identifier("  ") && !is_identifier("a\nb"));
    }
}
