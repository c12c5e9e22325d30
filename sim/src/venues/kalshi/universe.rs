//! The Kalshi market universe: the recorded markets (current fixed-point shape only), plus
//! synthetic copies of the recorded open events with new tickers and varied prices until the
//! requested number of open markets exists; their events; and an order book per market.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::decimal::{format_fixed, parse_fixed, COUNT_SCALE, ONE_DOLLAR, PRICE_SCALE};
use crate::fixtures::{str_field, Fixtures};
use crate::rng::Rng;
use crate::template::JsonTemplate;

/// `GET /markets` pages recorded in the current shape (`{"cursor","markets"}` envelopes).
const MARKET_PAGES: &[&str] = &[
    "kalshi/fortuna_demo_2026-06/markets__status_open.json",
    "kalshi/fortuna_demo_2026-06/markets__page1.json",
    "kalshi/fortuna_demo_2026-06/markets__page2.json",
    "kalshi/fortuna_demo_2026-06/markets__page3.json",
    "kalshi/fortuna_demo_2026-06/markets__status_closed.json",
    "kalshi/fortuna_demo_2026-06/markets__status_settled.json",
    "kalshi/fortuna_demo_2026-06/markets__high_temp.json",
    "kalshi/fortuna_demo_2026-06/markets__single_filter_lastpage.json",
    "kalshi/fortuna_demo_2026-06/markets__unauth_list.json",
    "kalshi/sdv_2026-10/markets.json",
];

/// Market lists recorded without their envelope (bare arrays).
const MARKET_ARRAYS: &[&str] = &[
    "kalshi/brianlee_epl_2026-03/kalshi_markets.json",
    "kalshi/drmanhattan_2026-06/kalshi_markets_list_unwrapped.json",
];

/// Recorded `orderbook_fp` books, each with a recording of the market it belongs to
/// (`{"market":…}` envelope when `Some(key)`, bare object otherwise).
const BOOKS: &[(&str, &str, Option<&str>)] = &[
    (
        "kalshi/fortuna_demo_2026-06/orderbook__base.json",
        "kalshi/fortuna_demo_2026-06/markets__single.json",
        Some("market"),
    ),
    (
        "kalshi/sdv_2026-10/markets__ticker__orderbook.json",
        "kalshi/sdv_2026-10/markets__ticker.json",
        Some("market"),
    ),
    (
        "kalshi/brianlee_epl_2026-03/kalshi_orderbook.json",
        "kalshi/brianlee_epl_2026-03/kalshi_market.json",
        None,
    ),
];

/// Recorded events: a `GET /events` page and a `GET /events/{ticker}` body.
const EVENT_PAGE: &str = "kalshi/sdv_2026-10/events.json";
const EVENT_SINGLE: &str = "kalshi/sdv_2026-10/events__event_ticker.json";

/// Stream salts for [`Rng::for_item`].
const SALT_MARKET: u64 = 0x4b41_4c53_484d_4b54; // "KALSHMKT"
const SALT_BOOK: u64 = 0x4b41_4c53_4842_4f4f; // "KALSHBOO"

/// One price level: price in dollars (scale 4) and count (scale 2), as wire strings.
pub type Level = [String; 2];

/// Resting bids on each side, ascending by price (best bid last), as on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    pub yes: Vec<Level>,
    pub no: Vec<Level>,
}

#[derive(Debug, Clone)]
pub struct Market {
    pub ticker: String,
    pub event_ticker: String,
    pub series_ticker: String,
    /// The market's own status word (`active`, `initialized`, `determined`, `finalized`, …).
    pub status: String,
    /// Multivariate (combo) market; such events are not listed by `GET /events`.
    pub mve: bool,
    /// Whether this market is a recorded one (as opposed to a synthetic copy).
    pub recorded: bool,
    /// The compact wire JSON of the market object.
    pub json: String,
    pub book: Book,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub event_ticker: String,
    pub series_ticker: String,
    /// The event object without `markets`.
    pub body: Map<String, Value>,
    /// Indices into [`Universe::markets`], in universe order.
    pub markets: Vec<usize>,
    pub mve: bool,
}

#[derive(Debug)]
pub struct Universe {
    pub markets: Vec<Market>,
    pub events: Vec<Event>,
    market_index: HashMap<String, usize>,
    event_index: HashMap<String, usize>,
}

impl Universe {
    pub fn market(&self, ticker: &str) -> Option<&Market> {
        self.market_index.get(ticker).map(|&i| &self.markets[i])
    }

    pub fn event(&self, event_ticker: &str) -> Option<&Event> {
        self.event_index.get(event_ticker).map(|&i| &self.events[i])
    }

    /// Loads the recordings and builds a universe with exactly `open_markets` markets of
    /// status `active`, plus every recorded market of another status.
    pub fn build(fixtures: &Fixtures, open_markets: usize, seed: u64) -> Result<Universe, String> {
        let recorded = load_recorded_markets(fixtures)?;
        let mut recorded_books = load_recorded_books(fixtures, &recorded)?;
        let recorded_events = load_recorded_events(fixtures)?;

        let active: Vec<&Value> = recorded
            .iter()
            .filter(|m| m["status"] == "active")
            .collect();
        if active.is_empty() {
            return Err("no recorded active Kalshi market to build the universe from".into());
        }
        let kept_active: HashSet<&str> = active
            .iter()
            .take(open_markets)
            .map(|m| m["ticker"].as_str().unwrap_or_default())
            .collect();

        let mut sources: Vec<Source> = Vec::new();
        for m in &recorded {
            let ticker = str_field(m, "ticker")?;
            if m["status"] == "active" && !kept_active.contains(ticker) {
                continue;
            }
            let mut source = Source::recorded(m)?;
            source.book = recorded_books.remove(ticker);
            sources.push(source);
        }

        // Synthetic copies: whole recorded open events, copy after copy, so each copy keeps
        // its event's structure (e.g. both sides of a match), until enough markets exist.
        let mut synthetic_events: Vec<(String, String)> = Vec::new(); // (new, template)
        let mut missing = open_markets.saturating_sub(active.len());
        let template_events = if missing > 0 {
            group_by_event(&active)?
        } else {
            Vec::new()
        };
        let mut copy = 0usize;
        let mut synth_index = 0u64;
        while missing > 0 {
            for (event_ticker, templates) in &template_events {
                if missing == 0 {
                    break;
                }
                let new_event = format!("{event_ticker}SIM{copy}");
                synthetic_events.push((new_event.clone(), event_ticker.clone()));
                for template in templates {
                    if missing == 0 {
                        break;
                    }
                    let mut rng = Rng::for_item(seed, SALT_MARKET, synth_index);
                    synth_index += 1;
                    sources.push(template.synthesize(&new_event, &mut rng));
                    missing -= 1;
                }
            }
            copy += 1;
        }

        let mut markets = Vec::with_capacity(sources.len());
        let mut market_index = HashMap::with_capacity(sources.len());
        for (index, source) in sources.into_iter().enumerate() {
            let series_ticker = recorded_events
                .get(&source.event_ticker)
                .and_then(|e| e.get("series_ticker"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| series_of(&source.event_ticker));
            let book = match source.book {
                Some(book) => book,
                // Only open markets have resting orders; the recorded quotes of determined
                // markets are stale (some even carry negative sizes).
                None if source.status != "active" => Book::default(),
                None => {
                    let mut rng = Rng::for_item(seed, SALT_BOOK, index as u64);
                    generate_book(&source.quote, &source.grid, &mut rng)
                }
            };
            if market_index.insert(source.ticker.clone(), index).is_some() {
                return Err(format!(
                    "duplicate Kalshi ticker in universe: {}",
                    source.ticker
                ));
            }
            markets.push(Market {
                ticker: source.ticker,
                event_ticker: source.event_ticker,
                series_ticker,
                status: source.status,
                mve: source.mve,
                recorded: source.recorded,
                json: source.json,
                book,
            });
        }

        let events = build_events(&markets, &recorded, &recorded_events, &synthetic_events)?;
        let event_index = events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.event_ticker.clone(), i))
            .collect();
        Ok(Universe {
            markets,
            events,
            market_index,
            event_index,
        })
    }
}

/// The top of a market's book as its market object states it, at scale 4 (prices) and 2
/// (counts). A price of 0 means no bid; a YES ask of 0 or 1 means no ask.
#[derive(Debug, Clone, Copy)]
struct Quote {
    yes_bid: i64,
    yes_ask: i64,
    bid_size: i64,
    ask_size: i64,
}

impl Quote {
    fn of(market: &Value) -> Result<Quote, String> {
        let field = |name: &str, scale: u32| -> Result<i64, String> {
            market[name]
                .as_str()
                .and_then(|s| parse_fixed(s, scale))
                .ok_or_else(|| format!("market {} lacks {name}", market["ticker"]))
        };
        Ok(Quote {
            yes_bid: field("yes_bid_dollars", PRICE_SCALE)?,
            yes_ask: field("yes_ask_dollars", PRICE_SCALE)?,
            bid_size: field("yes_bid_size_fp", COUNT_SCALE)?,
            ask_size: field("yes_ask_size_fp", COUNT_SCALE)?,
        })
    }
}

/// Where prices and counts may fall for a market.
#[derive(Debug, Clone, Copy)]
struct Grid {
    /// Price step at scale 4.
    step: i64,
    /// Whether counts may have cents (`fractional_trading_enabled`).
    fractional: bool,
}

impl Grid {
    /// The market's single `price_ranges` step, or whole cents when the ranges are tiered (a
    /// cent is valid in every tier).
    fn of(market: &Value) -> Grid {
        let step = match market["price_ranges"].as_array().map(Vec::as_slice) {
            Some([only]) => only["step"]
                .as_str()
                .and_then(|s| parse_fixed(s, PRICE_SCALE))
                .filter(|&s| s > 0 && ONE_DOLLAR % s == 0)
                .unwrap_or(100),
            _ => 100,
        };
        Grid {
            step,
            fractional: market["fractional_trading_enabled"]
                .as_bool()
                .unwrap_or(false),
        }
    }

    /// A random count at scale 2; whole contracts unless fractional trading is enabled.
    fn count(&self, rng: &mut Rng, max_contracts: i64) -> i64 {
        if self.fractional {
            rng.range(100, max_contracts * 100)
        } else {
            rng.range(1, max_contracts) * 100
        }
    }
}

/// A market on its way into the universe.
struct Source {
    ticker: String,
    event_ticker: String,
    status: String,
    mve: bool,
    recorded: bool,
    json: String,
    quote: Quote,
    grid: Grid,
    book: Option<Book>,
}

impl Source {
    fn recorded(market: &Value) -> Result<Source, String> {
        Ok(Source {
            ticker: str_field(market, "ticker")?.to_string(),
            event_ticker: str_field(market, "event_ticker")?.to_string(),
            status: str_field(market, "status")?.to_string(),
            mve: market.get("mve_collection_ticker").is_some(),
            recorded: true,
            json: market.to_string(),
            quote: Quote::of(market)?,
            grid: Grid::of(market),
            book: None,
        })
    }
}

/// Fields that differ between a synthetic copy and its recorded template, in the order
/// [`Template::synthesize`] supplies them.
const SYNTHETIC_FIELDS: &[&str] = &[
    "ticker",
    "event_ticker",
    "status",
    "result",
    "yes_bid_dollars",
    "yes_ask_dollars",
    "no_bid_dollars",
    "no_ask_dollars",
    "yes_bid_size_fp",
    "yes_ask_size_fp",
    "last_price_dollars",
    "previous_price_dollars",
    "previous_yes_bid_dollars",
    "previous_yes_ask_dollars",
    "volume_fp",
    "volume_24h_fp",
    "open_interest_fp",
    "close_time",
    "expiration_time",
    "latest_expiration_time",
    "expected_expiration_time",
];

/// Synthetic copies are open markets: they close 30 days after the day the simulator started
/// (midnight UTC), so a Worker's minimum-time-to-settlement check can admit them. The recorded
/// markets keep their recorded (past) times. Constant for the process, so repeated fetches stay
/// byte-identical.
fn synthetic_close_time() -> String {
    use std::sync::OnceLock;
    static CLOSE: OnceLock<String> = OnceLock::new();
    CLOSE
        .get_or_init(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400) + 30);
            format!("{y:04}-{m:02}-{d:02}T00:00:00Z")
        })
        .clone()
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A recorded open market to copy.
struct Template {
    /// The ticker after the event ticker (e.g. `-DAL`).
    suffix: String,
    mve: bool,
    grid: Grid,
    json: JsonTemplate,
}

impl Template {
    fn of(market: &Value) -> Result<Template, String> {
        let event = str_field(market, "event_ticker")?;
        let ticker = str_field(market, "ticker")?;
        let suffix = ticker
            .strip_prefix(event)
            .ok_or_else(|| format!("ticker {ticker} does not start with its event {event}"))?;
        Ok(Template {
            suffix: suffix.to_string(),
            mve: market.get("mve_collection_ticker").is_some(),
            grid: Grid::of(market),
            json: JsonTemplate::new(market, SYNTHETIC_FIELDS)?,
        })
    }

    /// An open copy in event `new_event` with a fresh, internally consistent quote.
    fn synthesize(&self, new_event: &str, rng: &mut Rng) -> Source {
        let grid = self.grid;
        let step = grid.step;
        let ticks = ONE_DOLLAR / step;

        // A two-sided market most of the time; sometimes one side is empty, as on the venue.
        let bid_ticks = rng.range(1, ticks - 2);
        let spread = rng.range(1, 4.min(ticks - 1 - bid_ticks));
        let mut quote = Quote {
            yes_bid: bid_ticks * step,
            yes_ask: (bid_ticks + spread) * step,
            bid_size: grid.count(rng, 20_000),
            ask_size: grid.count(rng, 20_000),
        };
        match rng.range(0, 99) {
            0..=3 => {
                quote.yes_bid = 0;
                quote.bid_size = 0;
            }
            4..=7 => {
                quote.yes_ask = ONE_DOLLAR;
                quote.ask_size = 0;
            }
            _ => {}
        }
        let low = quote.yes_bid.max(step);
        let high = quote.yes_ask.min(ONE_DOLLAR - step).max(low);
        let last = rng.range(low / step, high / step) * step;
        let nudge = |rng: &mut Rng, p: i64| (p + rng.range(-3, 3) * step).clamp(0, ONE_DOLLAR);
        let previous = nudge(rng, last);
        let previous_bid = if quote.yes_bid == 0 {
            0
        } else {
            nudge(rng, quote.yes_bid)
        };
        let previous_ask = if quote.yes_ask == ONE_DOLLAR {
            ONE_DOLLAR
        } else {
            nudge(rng, quote.yes_ask)
        };
        let volume = grid.count(rng, 500_000);
        // Whole contracts of the total volume.
        let share = |rng: &mut Rng| volume * rng.range(0, 100) / 100 / 100 * 100;
        let volume_24h = share(rng);
        let open_interest = share(rng);

        let ticker = format!("{new_event}{}", self.suffix);
        let price = |p: i64| Value::String(format_fixed(p, PRICE_SCALE));
        let count = |c: i64| Value::String(format_fixed(c, COUNT_SCALE));
        let values = [
            Value::String(ticker.clone()),
            Value::String(new_event.to_string()),
            Value::String("active".into()),
            Value::String(String::new()),
            price(quote.yes_bid),
            price(quote.yes_ask),
            price(ONE_DOLLAR - quote.yes_ask),
            price(ONE_DOLLAR - quote.yes_bid),
            count(quote.bid_size),
            count(quote.ask_size),
            price(last),
            price(previous),
            price(previous_bid),
            price(previous_ask),
            count(volume),
            count(volume_24h),
            count(open_interest),
            Value::String(synthetic_close_time()),
            Value::String(synthetic_close_time()),
            Value::String(synthetic_close_time()),
            Value::String(synthetic_close_time()),
        ];
        Source {
            ticker,
            event_ticker: new_event.to_string(),
            status: "active".into(),
            mve: self.mve,
            recorded: false,
            json: self.json.render(&values),
            quote,
            grid,
            book: None,
        }
    }
}

/// Kalshi series tickers are the first dash-separated segment of the event ticker.
fn series_of(event_ticker: &str) -> String {
    event_ticker
        .split('-')
        .next()
        .unwrap_or(event_ticker)
        .to_string()
}

fn load_recorded_markets(fixtures: &Fixtures) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let lists = MARKET_PAGES
        .iter()
        .map(|f| fixtures.array(f, Some("markets")))
        .chain(MARKET_ARRAYS.iter().map(|f| fixtures.array(f, None)));
    for list in lists {
        for market in list? {
            let ticker = str_field(&market, "ticker")?.to_string();
            // Only the current fixed-point shape is served (no integer-cent fields).
            if market.get("yes_bid_dollars").is_none() || market.get("yes_bid").is_some() {
                continue;
            }
            if seen.insert(ticker) {
                out.push(market);
            }
        }
    }
    Ok(out)
}

fn load_recorded_books(
    fixtures: &Fixtures,
    recorded: &[Value],
) -> Result<HashMap<String, Book>, String> {
    let mut books = HashMap::new();
    for (book_file, market_file, key) in BOOKS {
        let market = fixtures.object(market_file, *key)?;
        let ticker = str_field(&market, "ticker")?;
        let ob = fixtures.object(book_file, Some("orderbook_fp"))?;
        let book = Book {
            yes: levels(&ob["yes_dollars"], book_file)?,
            no: levels(&ob["no_dollars"], book_file)?,
        };
        // Serve the recorded market (from the lists) and its recorded book only if they
        // agree; a book that contradicts its market's bid/ask would teach the Worker lies.
        let listed = recorded
            .iter()
            .find(|m| m["ticker"] == ticker)
            .unwrap_or(&market);
        check_book_matches_market(&book, listed)
            .map_err(|e| format!("fixture {book_file}: {e}"))?;
        books.insert(ticker.to_string(), book);
    }
    Ok(books)
}

fn levels(value: &Value, file: &str) -> Result<Vec<Level>, String> {
    let Some(items) = value.as_array() else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|level| match level.as_array().map(Vec::as_slice) {
            Some([Value::String(p), Value::String(c)]) => Ok([p.clone(), c.clone()]),
            _ => Err(format!("fixture {file}: malformed level {level}")),
        })
        .collect()
}

/// The best YES bid equals the market's `yes_bid_dollars` and the best NO bid equals
/// `1 − yes_ask_dollars`; an empty side means no bid (price 0) or no ask (price 0 or 1).
fn check_book_matches_market(book: &Book, market: &Value) -> Result<(), String> {
    let price = |field: &str| -> Result<i64, String> {
        market[field]
            .as_str()
            .and_then(|s| parse_fixed(s, PRICE_SCALE))
            .ok_or_else(|| format!("market lacks {field}"))
    };
    let best = |side: &[Level]| -> Result<Option<i64>, String> {
        match side.last() {
            None => Ok(None),
            Some([p, _]) => parse_fixed(p, PRICE_SCALE)
                .map(Some)
                .ok_or_else(|| format!("bad book price {p}")),
        }
    };
    let yes_bid = price("yes_bid_dollars")?;
    let yes_ask = price("yes_ask_dollars")?;
    let expected_yes = (yes_bid > 0 && yes_bid < ONE_DOLLAR).then_some(yes_bid);
    let expected_no = (yes_ask > 0 && yes_ask < ONE_DOLLAR).then_some(ONE_DOLLAR - yes_ask);
    if best(&book.yes)? != expected_yes || best(&book.no)? != expected_no {
        return Err(format!(
            "book best bids {:?}/{:?} contradict market yes_bid {yes_bid} / yes_ask {yes_ask}",
            best(&book.yes)?,
            best(&book.no)?
        ));
    }
    for side in [&book.yes, &book.no] {
        let prices: Vec<i64> = side
            .iter()
            .filter_map(|[p, _]| parse_fixed(p, PRICE_SCALE))
            .collect();
        if prices.len() != side.len() || prices.windows(2).any(|w| w[0] >= w[1]) {
            return Err("book side is not strictly ascending".into());
        }
    }
    Ok(())
}

fn load_recorded_events(
    fixtures: &Fixtures,
) -> Result<HashMap<String, Map<String, Value>>, String> {
    let mut events = HashMap::new();
    let single = fixtures.object(EVENT_SINGLE, Some("event"))?;
    for event in fixtures
        .array(EVENT_PAGE, Some("events"))?
        .into_iter()
        .chain(std::iter::once(single))
    {
        let ticker = str_field(&event, "event_ticker")?.to_string();
        let Value::Object(mut body) = event else {
            continue;
        };
        body.remove("markets");
        events.entry(ticker).or_insert(body);
    }
    Ok(events)
}

fn group_by_event(markets: &[&Value]) -> Result<Vec<(String, Vec<Template>)>, String> {
    let mut groups: Vec<(String, Vec<Template>)> = Vec::new();
    for market in markets {
        let event = str_field(market, "event_ticker")?;
        let template = Template::of(market)?;
        match groups.iter_mut().find(|(e, _)| e == event) {
            Some((_, list)) => list.push(template),
            None => groups.push((event.to_string(), vec![template])),
        }
    }
    Ok(groups)
}

/// A book consistent with the quote: best YES bid = `yes_bid_dollars` with
/// `yes_bid_size_fp`, best NO bid = `1 − yes_ask_dollars` with `yes_ask_size_fp`, plus a few
/// deeper levels.
fn generate_book(quote: &Quote, grid: &Grid, rng: &mut Rng) -> Book {
    let step = grid.step;
    let mut side = |best: Option<i64>, best_size: i64| -> Vec<Level> {
        let Some(best) = best else {
            return Vec::new();
        };
        let size = if best_size > 0 {
            best_size
        } else {
            grid.count(rng, 5_000)
        };
        let mut levels = vec![(best, size)];
        let mut price = best;
        for _ in 0..rng.range(0, 4) {
            price -= step * rng.range(1, 3);
            if price < step {
                break;
            }
            levels.push((price, grid.count(rng, 5_000)));
        }
        levels.reverse();
        levels
            .into_iter()
            .map(|(p, c)| [format_fixed(p, PRICE_SCALE), format_fixed(c, COUNT_SCALE)])
            .collect()
    };
    let yes_bid = quote.yes_bid;
    let yes_ask = quote.yes_ask;
    let yes = side(
        (yes_bid > 0 && yes_bid < ONE_DOLLAR).then_some(yes_bid),
        quote.bid_size,
    );
    let no = side(
        (yes_ask > 0 && yes_ask < ONE_DOLLAR).then_some(ONE_DOLLAR - yes_ask),
        quote.ask_size,
    );
    Book { yes, no }
}

fn build_events(
    markets: &[Market],
    recorded_markets: &[Value],
    recorded_events: &HashMap<String, Map<String, Value>>,
    synthetic_events: &[(String, String)],
) -> Result<Vec<Event>, String> {
    let template_of: HashMap<&str, &str> = synthetic_events
        .iter()
        .map(|(new, old)| (new.as_str(), old.as_str()))
        .collect();
    let mut order: Vec<String> = Vec::new();
    let mut members: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, m) in markets.iter().enumerate() {
        members
            .entry(m.event_ticker.clone())
            .or_insert_with(|| {
                order.push(m.event_ticker.clone());
                Vec::new()
            })
            .push(i);
    }
    let mut events = Vec::with_capacity(order.len());
    for event_ticker in order {
        let indices = members.remove(&event_ticker).unwrap_or_default();
        let source_ticker = template_of
            .get(event_ticker.as_str())
            .copied()
            .unwrap_or(event_ticker.as_str());
        let mut body = match recorded_events.get(source_ticker) {
            Some(recorded) => recorded.clone(),
            None => {
                let source_markets: Vec<&Value> = recorded_markets
                    .iter()
                    .filter(|m| m["event_ticker"] == source_ticker)
                    .collect();
                derive_event(source_ticker, &source_markets)
            }
        };
        body.insert("event_ticker".into(), Value::String(event_ticker.clone()));
        let series_ticker = body
            .get("series_ticker")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| series_of(&event_ticker));
        let mve = indices.iter().any(|&i| markets[i].mve);
        events.push(Event {
            event_ticker,
            series_ticker,
            body,
            markets: indices,
            mve,
        });
    }
    Ok(events)
}

/// An event object for recorded markets whose event was not recorded, in the fields common
/// to the recorded event shapes. Its category comes from [`category_of_series`].
fn derive_event(event_ticker: &str, markets: &[&Value]) -> Map<String, Value> {
    let series = series_of(event_ticker);
    let title = markets
        .first()
        .and_then(|m| m["title"].as_str())
        .unwrap_or(event_ticker)
        .to_string();
    let last_updated = markets
        .iter()
        .filter_map(|m| m["updated_time"].as_str())
        .max()
        .unwrap_or("")
        .to_string();
    let mut body = Map::new();
    body.insert("category".into(), category_of_series(&series).into());
    body.insert("collateral_return_type".into(), "".into());
    body.insert("event_ticker".into(), event_ticker.into());
    body.insert("last_updated_ts".into(), last_updated.into());
    body.insert("mutually_exclusive".into(), false.into());
    body.insert("series_ticker".into(), series.into());
    body.insert("strike_period".into(), "".into());
    body.insert("sub_title".into(), "".into());
    body.insert("title".into(), title.into());
    body
}

/// Categories for the recorded series whose events were not recorded. Compliance rules can
/// block categories, so every event needs one; these follow Kalshi's category names.
fn category_of_series(series: &str) -> &'static str {
    const SPORTS: &[&str] = &[
        "KXMLB",
        "KXNFL",
        "KXNBA",
        "KXNHL",
        "KXEPL",
        "KXATP",
        "KXWTA",
        "KXITF",
        "KXPGA",
        "KXMVESPORTS",
    ];
    if SPORTS.iter().any(|p| series.starts_with(p)) {
        "Sports"
    } else if series.starts_with("KXHIGH") {
        "Climate and Weather"
    } else if series.starts_with("KXWTI") {
        "Financials"
    } else {
        "World"
    }
}

#[cfg(test)]
mod close_time_tests {
    #[test]
    fn civil_dates_are_right_at_known_points() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
