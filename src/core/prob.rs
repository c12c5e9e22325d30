//! Probabilities as fixed-point integers.
//!
//! [`Prob`] counts parts per million (`0..=1_000_000`). A million parts gives exact room for
//! everything the trading cycle derives from prices: a [`Price`] is 1e-4 dollars, so a price read
//! as a probability is `units × 100` ppm, and the mid of two prices (half a price unit) is still
//! a whole number of ppm. Forecast scoring (Brier) and Kelly sizing work in these units with
//! integer arithmetic; no `f64` is involved, so a signal computed twice is bit-identical.

use crate::core::money::{Price, PRICE_SCALE};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Parts per million in a probability of 1.
pub const PPM: i64 = 1_000_000;
/// Parts per million in one basis point.
pub const PPM_PER_BPS: i64 = 100;
/// Parts per million in one price unit (1e-4 dollars).
const PPM_PER_PRICE_UNIT: i64 = PPM / PRICE_SCALE;

/// A probability in parts per million, `0..=1_000_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Prob(i64);

impl Prob {
    pub const ZERO: Prob = Prob(0);
    pub const ONE: Prob = Prob(PPM);

    /// A probability from parts per million; `None` outside `0..=1_000_000`.
    pub fn from_ppm(ppm: i64) -> Option<Prob> {
        (0..=PPM).contains(&ppm).then_some(Prob(ppm))
    }

    /// The price of a contract paying $1, read as a probability (exact).
    pub fn from_price(price: Price) -> Prob {
        Prob(price.units() * PPM_PER_PRICE_UNIT)
    }

    /// The midpoint of two prices (exact: half a price unit is 50 ppm).
    pub fn mid(a: Price, b: Price) -> Prob {
        Prob((a.units() + b.units()) * PPM_PER_PRICE_UNIT / 2)
    }

    pub fn ppm(self) -> i64 {
        self.0
    }

    /// `1 − p`.
    pub fn complement(self) -> Prob {
        Prob(PPM - self.0)
    }

    /// Six-decimal string, e.g. `0.525000`.
    pub fn to_decimal_string(self) -> String {
        format!("{}.{:06}", self.0 / PPM, self.0 % PPM)
    }
}

impl TryFrom<i64> for Prob {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        Prob::from_ppm(v).ok_or_else(|| format!("probability {v} ppm outside 0..=1000000"))
    }
}

impl From<Prob> for i64 {
    fn from(p: Prob) -> i64 {
        p.0
    }
}

impl fmt::Display for Prob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_and_mids_are_exact_in_ppm() {
        let p = |u| Price::new(u).unwrap();
        assert_eq!(Prob::from_price(p(5200)).ppm(), 520_000);
        assert_eq!(Prob::mid(p(5200), p(5301)).ppm(), 525_050);
        assert_eq!(Prob::mid(p(0), p(1)).ppm(), 50);
        assert_eq!(Prob::from_price(Price::ONE_DOLLAR), Prob::ONE);
        assert_eq!(Prob::from_ppm(250_000).unwrap().complement().ppm(), 750_000);
        assert_eq!(Prob::from_ppm(1_000_001), None);
        assert_eq!(Prob::from_ppm(-1), None);
        assert_eq!(Prob::from_ppm(525_050).unwrap().to_string(), "0.525050");
    }
}
