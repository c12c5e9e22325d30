//! Fixed-point money and quantity types. No `f64` ever touches a money path.
//!
//! Units were chosen so that the product of a price and a quantity is exact:
//! - [`Price`]: ten-thousandths of a dollar per contract (Kalshi quotes `*_dollars` with up to
//!   4 decimals), always within `0..=10_000` (a binary contract pays at most $1).
//! - [`Qty`]: hundredths of a contract (Kalshi's `*_fp` counts carry 2 decimals).
//! - [`Usd`]: micro-dollars, so `Price × Qty` (1e-4 × 1e-2) is a whole number of micro-dollars.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Micro-dollars per dollar.
pub const MICROS_PER_DOLLAR: i64 = 1_000_000;
/// Micro-dollars per cent.
pub const MICROS_PER_CENT: i64 = 10_000;
/// Price units per dollar (a price of 1.0000).
pub const PRICE_SCALE: i64 = 10_000;
/// Quantity units per contract.
pub const QTY_SCALE: i64 = 100;

/// Why a decimal string could not become a fixed-point number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a plain decimal (`-?digits[.digits]`).
    Malformed(String),
    /// More decimals than the unit can hold; we never round silently.
    TooPrecise { value: String, max_decimals: u32 },
    /// Does not fit the integer type.
    Overflow(String),
    /// Outside the domain of the type (a price above $1, a negative price).
    OutOfRange(String),
}

impl MoneyError {
    /// Stable code for envelopes and rejection counters.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::Malformed(_) => "DECIMAL_MALFORMED",
            MoneyError::TooPrecise { .. } => "DECIMAL_TOO_PRECISE",
            MoneyError::Overflow(_) => "DECIMAL_OVERFLOW",
            MoneyError::OutOfRange(_) => "DECIMAL_OUT_OF_RANGE",
        }
    }
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::Malformed(v) => write!(f, "not a decimal number: {v:?}"),
            MoneyError::TooPrecise {
                value,
                max_decimals,
            } => {
                write!(f, "{value:?} has more than {max_decimals} decimals")
            }
            MoneyError::Overflow(v) => write!(f, "{v:?} does not fit"),
            MoneyError::OutOfRange(v) => write!(f, "{v:?} is out of range"),
        }
    }
}

/// Parses a plain decimal string into an integer scaled by `10^decimals`, exactly.
///
/// Accepts an optional leading `-`, digits, and an optional fraction with at most `decimals`
/// digits. Rejects exponents, `+`, spaces, empty parts and anything that would need rounding.
pub fn parse_decimal(s: &str, decimals: u32) -> Result<i64, MoneyError> {
    let malformed = || MoneyError::Malformed(s.to_string());
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let frac = frac_part.unwrap_or("");
    if frac_part.is_some() && frac.is_empty() {
        return Err(malformed());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    // Trailing zeros beyond the scale carry no information ("0.520000" is fine).
    let significant = frac.trim_end_matches('0');
    if significant.len() > decimals as usize {
        return Err(MoneyError::TooPrecise {
            value: s.to_string(),
            max_decimals: decimals,
        });
    }
    let overflow = || MoneyError::Overflow(s.to_string());
    let mut value: i64 = 0;
    for b in int_part.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    let mut frac_digits = significant.bytes();
    for _ in 0..decimals {
        let digit = frac_digits.next().map(|b| i64::from(b - b'0')).unwrap_or(0);
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or_else(overflow)?;
    }
    Ok(if negative { -value } else { value })
}

fn format_decimal(value: i64, decimals: u32) -> String {
    let scale = 10_i64.pow(decimals);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let scale_u = scale as u64;
    format!(
        "{sign}{}.{:0width$}",
        abs / scale_u,
        abs % scale_u,
        width = decimals as usize
    )
}

/// A contract price in ten-thousandths of a dollar, `0..=10_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Price(i64);

impl Price {
    pub const ZERO: Price = Price(0);
    pub const ONE_DOLLAR: Price = Price(PRICE_SCALE);

    /// A price from raw units; `None` outside `0..=10_000`.
    pub fn new(units: i64) -> Option<Price> {
        (0..=PRICE_SCALE).contains(&units).then_some(Price(units))
    }

    /// A price from whole cents (the transitional integer-cent fields).
    pub fn from_cents(cents: i64) -> Option<Price> {
        cents.checked_mul(100).and_then(Price::new)
    }

    /// Parses a `*_dollars` string such as `"0.5200"`.
    pub fn parse_dollars(s: &str) -> Result<Price, MoneyError> {
        let units = parse_decimal(s, 4)?;
        Price::new(units).ok_or_else(|| MoneyError::OutOfRange(s.to_string()))
    }

    pub fn units(self) -> i64 {
        self.0
    }

    /// The complementary side's price (`1 − p`): a YES ask is `1 − best NO bid`.
    pub fn complement(self) -> Price {
        Price(PRICE_SCALE - self.0)
    }

    /// Four-decimal dollar string, the venue's own notation.
    pub fn to_dollars_string(self) -> String {
        format_decimal(self.0, 4)
    }
}

impl TryFrom<i64> for Price {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        Price::new(v).ok_or_else(|| format!("price {v} outside 0..=10000"))
    }
}

impl From<Price> for i64 {
    fn from(p: Price) -> i64 {
        p.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_dollars_string())
    }
}

/// A number of contracts in hundredths. Signed: negative means short / reducing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Qty(pub i64);

impl Qty {
    pub const ZERO: Qty = Qty(0);

    /// Whole contracts.
    pub fn contracts(n: i64) -> Option<Qty> {
        n.checked_mul(QTY_SCALE).map(Qty)
    }

    /// Parses an `*_fp` string such as `"16529.55"`.
    pub fn parse_fp(s: &str) -> Result<Qty, MoneyError> {
        parse_decimal(s, 2).map(Qty)
    }

    pub fn units(self) -> i64 {
        self.0
    }

    pub fn to_fp_string(self) -> String {
        format_decimal(self.0, 2)
    }
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_fp_string())
    }
}

/// An amount of money in micro-dollars. Signed (P&L, cash flows).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Usd(pub i64);

impl Usd {
    pub const ZERO: Usd = Usd(0);

    pub fn from_cents(cents: i64) -> Option<Usd> {
        cents.checked_mul(MICROS_PER_CENT).map(Usd)
    }

    pub fn from_dollars(dollars: i64) -> Option<Usd> {
        dollars.checked_mul(MICROS_PER_DOLLAR).map(Usd)
    }

    /// Parses a dollar string with up to 6 decimals (`"12.3456"`).
    pub fn parse_dollars(s: &str) -> Result<Usd, MoneyError> {
        parse_decimal(s, 6).map(Usd)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Usd) -> Option<Usd> {
        self.0.checked_add(other.0).map(Usd)
    }

    pub fn checked_sub(self, other: Usd) -> Option<Usd> {
        self.0.checked_sub(other.0).map(Usd)
    }

    /// The notional of `qty` contracts at `price`: exact, in micro-dollars.
    pub fn notional(price: Price, qty: Qty) -> Option<Usd> {
        price.units().checked_mul(qty.units()).map(Usd)
    }

    /// Six-decimal dollar string.
    pub fn to_dollars_string(self) -> String {
        format_decimal(self.0, 6)
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_dollars_string())
    }
}

/// Kalshi's taker fee: `0.07 × contracts × P × (1 − P)` dollars, rounded **up** to the next cent.
///
/// Computed in integers: with `q` in hundredths and `p` in ten-thousandths the fee in dollars is
/// `7·q·p·(10000−p) / 10^12`, so in cents it is `ceil(7·q·p·(10000−p) / 10^10)`.
pub fn kalshi_taker_fee(price: Price, qty: Qty) -> Usd {
    let q = i128::from(qty.units().max(0));
    let p = i128::from(price.units());
    let numerator = 7 * q * p * (i128::from(PRICE_SCALE) - p);
    let denominator: i128 = 10_000_000_000;
    let cents = (numerator + denominator - 1) / denominator;
    // A fee fits comfortably: q ≤ i64::MAX and p·(1−p) ≤ 2.5e7 bound it far below i64 cents.
    Usd(i64::try_from(cents).unwrap_or(i64::MAX / MICROS_PER_CENT) * MICROS_PER_CENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_decimal_is_exact_and_refuses_rounding() {
        assert_eq!(parse_decimal("0.5200", 4), Ok(5200));
        assert_eq!(parse_decimal("0.52", 4), Ok(5200));
        assert_eq!(parse_decimal("1", 4), Ok(10_000));
        assert_eq!(parse_decimal("16529.55", 2), Ok(1_652_955));
        assert_eq!(parse_decimal("-3.5", 2), Ok(-350));
        assert_eq!(parse_decimal("0.520000", 4), Ok(5200));
        assert!(matches!(
            parse_decimal("0.52001", 4),
            Err(MoneyError::TooPrecise { .. })
        ));
        for bad in [
            "", ".5", "5.", "1e3", "+1", " 1", "1 ", "0x10", "1.2.3", "-", "NaN",
        ] {
            assert!(
                matches!(parse_decimal(bad, 4), Err(MoneyError::Malformed(_))),
                "{bad:?} should be malformed"
            );
        }
        assert!(matches!(
            parse_decimal("99999999999999999999", 2),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[test]
    fn price_stays_within_one_dollar() {
        assert_eq!(Price::parse_dollars("1.0000"), Ok(Price::ONE_DOLLAR));
        assert!(matches!(
            Price::parse_dollars("1.0001"),
            Err(MoneyError::OutOfRange(_))
        ));
        assert!(matches!(
            Price::parse_dollars("-0.01"),
            Err(MoneyError::OutOfRange(_))
        ));
        assert_eq!(Price::from_cents(52), Price::new(5200));
        assert_eq!(
            Price::new(5200).unwrap().complement(),
            Price::new(4800).unwrap()
        );
        assert_eq!(Price::new(5).unwrap().to_dollars_string(), "0.0005");
    }

    #[test]
    fn notional_of_price_and_qty_is_exact_micro_dollars() {
        // 0.5200 × 10.50 contracts = $5.46
        let n = Usd::notional(Price::new(5200).unwrap(), Qty::parse_fp("10.50").unwrap());
        assert_eq!(n, Some(Usd(5_460_000)));
        assert_eq!(Usd(5_460_000).to_dollars_string(), "5.460000");
        assert_eq!(Usd(-1).to_dollars_string(), "-0.000001");
    }

    #[test]
    fn taker_fee_rounds_up_to_the_next_cent() {
        let p = |c| Price::from_cents(c).unwrap();
        let q = |n| Qty::contracts(n).unwrap();
        // 0.07 × 100 × 0.5 × 0.5 = 1.75 exactly.
        assert_eq!(
            kalshi_taker_fee(p(50), q(100)),
            Usd::from_cents(175).unwrap()
        );
        // 0.07 × 1 × 0.5 × 0.5 = 0.0175 → 0.02.
        assert_eq!(kalshi_taker_fee(p(50), q(1)), Usd::from_cents(2).unwrap());
        // 0.07 × 10 × 0.01 × 0.99 = 0.00693 → 0.01.
        assert_eq!(kalshi_taker_fee(p(1), q(10)), Usd::from_cents(1).unwrap());
        // Price 0 or 1 carries no fee.
        assert_eq!(kalshi_taker_fee(p(0), q(10)), Usd::ZERO);
        assert_eq!(kalshi_taker_fee(p(100), q(10)), Usd::ZERO);
        // 0.07 × 3 × 0.4 × 0.6 = 0.0504 → 0.06 (just over a cent boundary).
        assert_eq!(kalshi_taker_fee(p(40), q(3)), Usd::from_cents(6).unwrap());
    }
}
