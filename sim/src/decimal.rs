//! Fixed-point decimal strings as the venues put them on the wire. Integers only: a price
//! of `"0.5200"` is `5200` at scale 4, a count of `"16529.55"` is `1652955` at scale 2.

/// Dollars at scale 4 (Kalshi `*_dollars` strings carry four decimals).
pub const PRICE_SCALE: u32 = 4;
/// One dollar at [`PRICE_SCALE`].
pub const ONE_DOLLAR: i64 = 10_000;
/// Contract counts at scale 2 (Kalshi `*_fp` strings carry two decimals).
pub const COUNT_SCALE: u32 = 2;

/// Formats `units` at `scale` decimals, always printing every decimal: `(5200, 4)` → `"0.5200"`.
pub fn format_fixed(units: i64, scale: u32) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{abs}");
    }
    let div = 10u64.pow(scale);
    format!(
        "{sign}{}.{:0width$}",
        abs / div,
        abs % div,
        width = scale as usize
    )
}

/// Like [`format_fixed`] but without trailing zeros (and without a bare trailing dot), the way
/// Polymarket prints prices and sizes: `(5000, 4)` → `"0.5"`, `(10000, 4)` → `"1"`.
pub fn format_trimmed(units: i64, scale: u32) -> String {
    let full = format_fixed(units, scale);
    if !full.contains('.') {
        return full;
    }
    full.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Parses a plain decimal string at `scale`; `None` if it is not a number or has more
/// decimals than `scale` (no rounding: the simulator never invents precision).
pub fn parse_fixed(text: &str, scale: u32) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    if int_part.is_empty() || frac_part.len() > scale as usize {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int_value: i64 = int_part.parse().ok()?;
    let mut frac_value: i64 = if frac_part.is_empty() {
        0
    } else {
        frac_part.parse().ok()?
    };
    for _ in frac_part.len()..scale as usize {
        frac_value *= 10;
    }
    let value = int_value
        .checked_mul(10i64.pow(scale))?
        .checked_add(frac_value)?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_kalshi_prices_and_counts() {
        assert_eq!(format_fixed(5200, PRICE_SCALE), "0.5200");
        assert_eq!(format_fixed(ONE_DOLLAR, PRICE_SCALE), "1.0000");
        assert_eq!(format_fixed(0, PRICE_SCALE), "0.0000");
        assert_eq!(format_fixed(1652955, COUNT_SCALE), "16529.55");
        assert_eq!(format_fixed(-5, 2), "-0.05");
    }

    #[test]
    fn trims_like_polymarket() {
        assert_eq!(format_trimmed(5000, 4), "0.5");
        assert_eq!(format_trimmed(10000, 4), "1");
        assert_eq!(format_trimmed(4750, 4), "0.475");
        assert_eq!(format_trimmed(1923, 1), "192.3");
    }

    #[test]
    fn parses_without_rounding() {
        assert_eq!(parse_fixed("0.5200", 4), Some(5200));
        assert_eq!(parse_fixed("0.01", 4), Some(100));
        assert_eq!(parse_fixed("1", 4), Some(10000));
        assert_eq!(parse_fixed("16529.55", 2), Some(1652955));
        assert_eq!(parse_fixed("0.12345", 4), None);
        assert_eq!(parse_fixed("abc", 4), None);
        assert_eq!(parse_fixed(".5", 4), None);
    }
}
