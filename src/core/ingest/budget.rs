//! The run's budget: how much work one invocation may do before it stops cleanly.
//!
//! Workers cannot read their own CPU time (clocks advance only across I/O), so CPU is
//! *estimated* from the work done with a cost model measured on the wasm build (see
//! BENCHMARKS.md, "CPU per 1,000-market page"): hashing and parsing cost per KiB of body, and a
//! cost per row built and bound. Wall time is read between steps. Before each page the job asks
//! [`Budget::admits_page`]; a refusal ends the step cleanly with the reason and where it stopped.

use serde::Serialize;

/// Limits for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Estimated CPU the run may spend, in ms (Workers paid plan: 30,000 ms by default).
    pub cpu_ms: u64,
    /// Wall time the run may take, in ms (cron invocations may run up to 15 minutes).
    pub wall_ms: u64,
    /// Pages per listing (per source and endpoint).
    pub max_pages: u32,
    /// Retries the whole run may spend across all requests.
    pub max_retries: u32,
}

impl Default for Budget {
    /// Two thirds of the default paid CPU limit, ten minutes of wall time, 25 pages per
    /// listing (Kalshi's 10,000 open markets are 10 pages), 40 retries.
    fn default() -> Self {
        Budget {
            cpu_ms: 20_000,
            wall_ms: 600_000,
            max_pages: 25,
            max_retries: 40,
        }
    }
}

/// Estimated CPU per unit of work, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostModel {
    /// Hashing and parsing one KiB of response body.
    pub us_per_kib: u64,
    /// Building, binding and sending one row.
    pub us_per_row: u64,
}

/// Set about twice above what a 1,000-market Kalshi page (2.8 MB, 2,000 rows) measures in the
/// release wasm under Node (`ingest_cpu_tests`: ~57 ms, of which SHA-256 ~6 ms and parsing
/// ~24 ms), so the estimate errs towards stopping early on a slower machine.
pub const COST_MODEL: CostModel = CostModel {
    us_per_kib: 25,
    us_per_row: 30,
};

/// Why a run stopped before finishing a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StopReason {
    CpuBudget,
    WallBudget,
    PageBudget,
}

impl StopReason {
    pub fn code(self) -> &'static str {
        match self {
            StopReason::CpuBudget => "BUDGET_CPU",
            StopReason::WallBudget => "BUDGET_WALL",
            StopReason::PageBudget => "BUDGET_PAGES",
        }
    }
}

/// Work done so far in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meter {
    pub started_ms: i64,
    pub cpu_us: u64,
    pub retries: u32,
    /// The estimated cost of the largest page seen, used to predict the next one.
    pub largest_page_us: u64,
}

impl Meter {
    pub fn new(started_ms: i64) -> Meter {
        Meter {
            started_ms,
            cpu_us: 0,
            retries: 0,
            largest_page_us: 0,
        }
    }

    /// Charges one page: its body bytes and the rows it produced.
    pub fn charge_page(&mut self, model: &CostModel, bytes: usize, rows: usize) {
        let us = (bytes as u64).div_ceil(1024) * model.us_per_kib + rows as u64 * model.us_per_row;
        self.cpu_us += us;
        self.largest_page_us = self.largest_page_us.max(us);
    }

    /// Charges a body that was not parsed (an error response).
    pub fn charge_bytes(&mut self, model: &CostModel, bytes: usize) {
        self.cpu_us += (bytes as u64).div_ceil(1024) * model.us_per_kib;
    }

    pub fn cpu_ms(&self) -> u64 {
        self.cpu_us / 1_000
    }

    pub fn retries_left(&self, budget: &Budget) -> u32 {
        budget.max_retries.saturating_sub(self.retries)
    }
}

impl Budget {
    /// May another page (the `pages_done + 1`-th of its listing) start at `now_ms`? Refused if
    /// the listing's page budget is spent, the wall budget is spent, or the CPU estimate plus
    /// the largest page seen so far would pass the CPU budget.
    pub fn admits_page(
        &self,
        meter: &Meter,
        now_ms: i64,
        pages_done: u32,
    ) -> Result<(), StopReason> {
        if pages_done >= self.max_pages {
            return Err(StopReason::PageBudget);
        }
        if now_ms.saturating_sub(meter.started_ms) >= self.wall_ms as i64 {
            return Err(StopReason::WallBudget);
        }
        if meter.cpu_us + meter.largest_page_us > self.cpu_ms.saturating_mul(1_000) {
            return Err(StopReason::CpuBudget);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_refused_when_its_predicted_cost_would_pass_the_cpu_budget() {
        let budget = Budget {
            cpu_ms: 100,
            ..Budget::default()
        };
        let model = CostModel {
            us_per_kib: 10,
            us_per_row: 10,
        };
        let mut m = Meter::new(0);
        assert_eq!(budget.admits_page(&m, 0, 0), Ok(()));
        m.charge_page(&model, 2_048 * 1_024, 1_000); // 20,480 + 10,000 us
        assert_eq!(m.cpu_ms(), 30);
        assert_eq!(budget.admits_page(&m, 0, 1), Ok(()));
        m.charge_page(&model, 2_048 * 1_024, 1_000);
        assert_eq!(
            budget.admits_page(&m, 0, 2),
            Ok(()),
            "60.96 ms + 30.48 ms fits 100 ms"
        );
        m.charge_page(&model, 2_048 * 1_024, 1_000);
        assert_eq!(budget.admits_page(&m, 0, 3), Err(StopReason::CpuBudget));
    }

    #[test]
    fn pages_and_wall_time_are_bounded() {
        let budget = Budget {
            wall_ms: 1_000,
            max_pages: 2,
            ..Budget::default()
        };
        let m = Meter::new(5_000);
        assert_eq!(budget.admits_page(&m, 5_999, 1), Ok(()));
        assert_eq!(
            budget.admits_page(&m, 6_000, 1),
            Err(StopReason::WallBudget)
        );
        assert_eq!(
            budget.admits_page(&m, 5_000, 2),
            Err(StopReason::PageBudget)
        );
        assert_eq!(StopReason::PageBudget.code(), "BUDGET_PAGES");
    }

    #[test]
    fn retries_left_never_underflows() {
        let mut m = Meter::new(0);
        m.retries = 50;
        assert_eq!(m.retries_left(&Budget::default()), 0);
    }
}
