//! The trade feed: an alert for each new YES/NO decision and a result for each settled one,
//! read from `trades` by two watermarks in `telegram_state` rather than queued in the outbox,
//! so a decision costs no outbox row. Delivery keeps the outbox's promise: a watermark moves
//! right after the send that covers it, in its own small transaction, so a sender killed in
//! between costs at most one duplicate and never a loss.
//!
//! - Fewer than `telegram.merge_threshold` new trades go out one message each, however late;
//!   from it, one merged message (a line each, at most [`trade_text::MAX_LINES`]); more than
//!   that, or when the oldest waited longer than [`BACKLOG`] (Telegram was off or unreachable),
//!   one summary line ("312 trades since 10:00 UTC: 170 W / 142 L, +23.40 USDC") instead.
//! - `[telegram.notify] trade` / `result`: `off` passes them over (the watermark moves on and
//!   nothing is sent, then or later), `silent` sends them without a sound.
//! - Never announced: trades that `polyperf archive restore` put back (`telegram_restored`,
//!   held back by `trades::hold_back_restored` in the restore's transaction and let go here
//!   once both watermarks passed them), and trades logged or settled before migration 0006
//!   (the watermarks start there).
//! - Its reads of `trades` are `trades::feed`'s; the watermarks are this module's.
//! - A settlement run writes its batches with one `settled_at` but not in id order, so while
//!   one is under way (its lease is taken) results wait for its newest `settled_at`: the
//!   watermark never passes a row still to come.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::api::{Bot, Outgoing};
use super::drain::{deliver_following, Delivery, Outcome};
use super::state::{self, Key};
use super::trade_text::{self, Totals, TradeView};
use super::Stats;
use crate::config::{Notice, Notification, Settings};
use crate::kinds::Liquidity;
use crate::money::fees::{FeeModel, FeeRules, Fill};
use crate::runner::Job;
use crate::time::from_db;
use crate::trades::{FeedMark, Trade};

/// Items that waited longer than this (the oldest of them) are summed up in one line instead
/// of being sent one by one: Telegram was off or unreachable for long.
pub const BACKLOG: Duration = Duration::minutes(60);

/// Most trades kept in memory for one run's messages (the rest are only counted).
const MAX_KEPT: usize = 100;

/// How far a stream has been announced: `(settled_at, id)` for results, `("", id)` for alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mark {
    pub settled_at: String,
    pub id: i64,
}

/// The two streams of the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// New YES/NO decisions, by id.
    Alerts,
    /// Settled YES/NO decisions, by (settled_at, id).
    Results,
}

impl Stream {
    fn notice(self) -> Notice {
        match self {
            Stream::Alerts => Notice::Trade,
            Stream::Results => Notice::Result,
        }
    }

    fn key(self) -> Key {
        match self {
            Stream::Alerts => Key::FeedTrades,
            Stream::Results => Key::FeedResults,
        }
    }

    fn load(self, conn: &Connection) -> Result<Mark> {
        let stored = state::get(conn, self.key())?;
        Ok(match self {
            Stream::Alerts => Mark {
                settled_at: String::new(),
                id: stored.and_then(|v| v.parse().ok()).unwrap_or(0),
            },
            Stream::Results => stored
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_default(),
        })
    }

    fn save(self, conn: &Connection, mark: &Mark) -> Result<()> {
        let value = match self {
            Stream::Alerts => mark.id.to_string(),
            // Serializing two plain fields cannot fail.
            Stream::Results => serde_json::to_string(mark).unwrap_or_default(),
        };
        state::set(conn, self.key(), &value)
    }
}

impl Mark {
    fn of(mark: FeedMark) -> Mark {
        Mark {
            settled_at: mark.0,
            id: mark.1,
        }
    }

    fn feed(&self) -> FeedMark {
        (self.settled_at.clone(), self.id)
    }
}

/// One run's worth of a stream.
#[derive(Debug, Default)]
struct Batch {
    /// The first trades, with the mark each one reaches.
    kept: Vec<(TradeView, Mark)>,
    totals: Totals,
    /// When the oldest item started waiting (its decision for alerts, its settlement for
    /// results).
    oldest: Option<DateTime<Utc>>,
    /// Where the watermark goes once the whole batch is announced: past every row the stream
    /// could hold at the time of reading (HOLDs and restored rows included).
    upper: Mark,
    /// The newest trade read when it is not among `kept` (else `kept`'s last).
    last: Option<TradeView>,
}

/// One message and the mark it brings the stream to.
struct Unit {
    text: String,
    after: Mark,
    n_trades: u64,
}

/// Announces new trades, then new results. Stops (Deferred) when the Bot API is unavailable;
/// the rest waits for the next run.
pub async fn deliver_feed(
    conn: &mut Connection,
    settings: &Settings,
    bot: &Bot,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<Outcome> {
    let rules = fee_rules(settings);
    let mut chat_id = super::chat::current(conn, settings)?;
    for stream in [Stream::Alerts, Stream::Results] {
        let after = stream.load(conn)?;
        let batch = read(conn, stream, &after, &rules)?;
        let notification = settings.telegram.notify.of(stream.notice());
        let units = match notification {
            Notification::Off => Vec::new(),
            Notification::On | Notification::Silent => plan(stream, &batch, settings, now),
        };
        let silent = notification == Notification::Silent;
        for unit in &units {
            let message = Outgoing {
                text: &unit.text,
                markup: None,
                silent,
            };
            match deliver_following(conn, settings, bot, &mut chat_id, &message, now).await? {
                Delivery::Sent(message_id) => {
                    advance(conn, stream, &unit.after)?;
                    match stream {
                        Stream::Alerts => stats.alerts_sent += unit.n_trades,
                        Stream::Results => stats.results_sent += unit.n_trades,
                    }
                    tracing::info!(?stream, trades = unit.n_trades, message_id, "sent");
                }
                Delivery::Refused(detail) => {
                    // Never accepted as it is: pass it over rather than block the feed.
                    let error = settings.scrub(&detail);
                    tracing::warn!(?stream, error = %error, "feed message rejected; passed over");
                    advance(conn, stream, &unit.after)?;
                }
                Delivery::RateLimited(_, detail) => {
                    return Ok(Outcome::Deferred(settings.scrub(&detail)))
                }
                Delivery::Failed(e) => {
                    return Ok(Outcome::Deferred(settings.scrub(&e.to_string())))
                }
                // The watermark stays: these trades go out once the setting is fixed.
                Delivery::Misconfigured(setting) => return Ok(Outcome::Misconfigured(setting)),
            }
        }
        // Everything read is announced (or passed over): on to the batch's end.
        if batch.upper > after {
            advance(conn, stream, &batch.upper)?;
        }
    }
    forget_restored(conn)?;
    Ok(Outcome::Done)
}

/// The messages for a batch: one each, one merged, or one summary line.
fn plan(stream: Stream, batch: &Batch, settings: &Settings, now: DateTime<Utc>) -> Vec<Unit> {
    let n = batch.totals.n;
    if n == 0 {
        return Vec::new();
    }
    let threshold = (settings.telegram.merge_threshold as u64).max(2);
    let one = |text: String| {
        vec![Unit {
            text,
            after: batch.upper.clone(),
            n_trades: n,
        }]
    };
    // A few trades go one by one, however late (a single late trade keeps its alert).
    if n < threshold && batch.kept.len() as u64 == n {
        return batch
            .kept
            .iter()
            .map(|(view, mark)| Unit {
                text: match stream {
                    Stream::Alerts => trade_text::alert(view, now),
                    Stream::Results => trade_text::result_line(view, now),
                },
                after: mark.clone(),
                n_trades: 1,
            })
            .collect();
    }
    // More than a merged message lists, or a wait past BACKLOG: one line.
    let backlog =
        n > trade_text::MAX_LINES as u64 || batch.oldest.is_some_and(|t| t + BACKLOG < now);
    if backlog {
        return one(match stream {
            Stream::Alerts => trade_text::alerts_backlog(&batch.totals, now),
            Stream::Results => trade_text::results_backlog(&batch.totals, now),
        });
    }
    let shown: Vec<TradeView> = batch
        .kept
        .iter()
        .take(trade_text::MAX_LINES)
        .map(|(view, _)| view.clone())
        .collect();
    one(match stream {
        Stream::Alerts => trade_text::alerts_merged(&shown, &batch.totals, now),
        Stream::Results => trade_text::results_merged(&shown, &batch.totals, now),
    })
}

/// Moves a stream's watermark (its own small transaction, right after a send).
fn advance(conn: &mut Connection, stream: Stream, mark: &Mark) -> Result<()> {
    let tx = crate::db::write_tx(conn)?;
    stream.save(&tx, mark)?;
    tx.commit()?;
    Ok(())
}

/// Reads what a stream has not announced yet, in one snapshot.
fn read(conn: &mut Connection, stream: Stream, after: &Mark, rules: &FeeRules) -> Result<Batch> {
    let tx = conn.transaction()?;
    let mut batch = Batch::default();
    let (upper, before) = match stream {
        Stream::Alerts => {
            let upper = Mark {
                settled_at: String::new(),
                id: crate::trades::last_id(&tx)?,
            };
            (upper, None)
        }
        Stream::Results => results_upper(&tx)?,
    };
    batch.upper = upper.max(after.clone());
    let mut add = |trade: Trade| {
        let id = trade.id;
        let (view, settled_at) = view_of(trade, rules);
        let waited_since = match stream {
            Stream::Alerts => view.timestamp,
            Stream::Results => settled_at.as_deref().and_then(|t| from_db(t).ok()),
        };
        batch.oldest = match (batch.oldest, waited_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        batch.totals.add(&view);
        if batch.kept.len() >= MAX_KEPT {
            batch.last = Some(view);
        } else {
            let settled_at = match stream {
                Stream::Alerts => String::new(),
                Stream::Results => settled_at.unwrap_or_default(),
            };
            batch.kept.push((view, Mark { settled_at, id }));
        }
    };
    match stream {
        Stream::Alerts => crate::trades::each_alert(&tx, after.id, &mut add)?,
        Stream::Results => {
            crate::trades::each_result(&tx, &after.feed(), before.as_deref(), &mut add)?
        }
    }
    Ok(batch)
}

/// The last settled row results may reach now, and the `settled_at` they must stay before:
/// while a settlement run holds its lease, its newest `settled_at` is still being written.
fn results_upper(conn: &Connection) -> Result<(Mark, Option<String>)> {
    let before: Option<String> = if crate::runs::lease_taken(conn, Job::Settle)? {
        crate::trades::last_settled_at(conn)?
    } else {
        None
    };
    let upper = Mark::of(crate::trades::last_settled_before(conn, before.as_deref())?);
    Ok((upper, before))
}

/// A trade as the messages show it, and its `settled_at`. A value that cannot be read
/// (written by hand) shows as missing rather than stopping the feed.
fn view_of(t: Trade, rules: &FeeRules) -> (TradeView, Option<String>) {
    let window = match (t.market_start, t.market_end) {
        (Some(start), Some(end)) => Some((start, end)),
        _ => crate::market::window_from_slug(&t.market_slug),
    };
    let mut view = TradeView {
        action: t.action,
        timestamp: t.timestamp,
        window,
        price: t.executed_price,
        size: t.position_size,
        confidence: t.confidence,
        signal_type: t.signal_type,
        reasoning: t.reasoning,
        market_slug: t.market_slug,
        profit_if_right: None,
        result: None,
    };
    view.profit_if_right = profit_if_right(&view, t.liquidity, t.fee_paid, t.fee_rate, rules);
    view.result = t.is_win.map(|w| (w, t.profit_loss.unwrap_or_default()));
    (view, t.settled_at)
}

/// What the trade makes if its side wins, by settlement's own arithmetic: the fee it logged,
/// nothing for a maker, else the taker formula at the rate it logged or the settings' (the
/// market's own schedule is not known before settlement).
fn profit_if_right(
    view: &TradeView,
    liquidity: Liquidity,
    fee_paid: Option<Decimal>,
    fee_rate: Option<Decimal>,
    rules: &FeeRules,
) -> Option<Decimal> {
    let fill = Fill {
        size: view.size?,
        price: view.price?,
        time: view.timestamp?,
        liquidity,
        fee_paid,
    };
    let mut rules = *rules;
    if let Some(rate) = fee_rate {
        rules.model = FeeModel::new(rate, Decimal::from(rules.model.exponent)).ok()?;
    }
    crate::money::pnl::settle_fill(&fill, &rules, true)
        .ok()
        .map(|settled| settled.profit_loss)
}

/// The settings' fee rules (no fee if they cannot be read: validation refuses such settings).
fn fee_rules(settings: &Settings) -> FeeRules {
    FeeRules::from_settings(&settings.settlement).unwrap_or(FeeRules {
        model: FeeModel::NONE,
        asset: settings.settlement.fee_asset,
    })
}

/// Lets go of restored trades both watermarks have passed (or whose trade is gone): they can
/// no longer be announced anyway.
fn forget_restored(conn: &mut Connection) -> Result<()> {
    if !crate::trades::any_held_back(conn)? {
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    let alerts = Stream::Alerts.load(&tx)?;
    let results = Stream::Results.load(&tx)?;
    crate::trades::forget_restored(&tx, alerts.id, &results.feed())?;
    tx.commit()?;
    Ok(())
}

/// What the feed would announce now, without sending or moving anything (the demo shows it
/// while Telegram is off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// New trades waiting for their alert.
    pub alerts: u64,
    /// Settled trades waiting for their result.
    pub results: u64,
    /// The newest waiting result as its message reads (HTML).
    pub last_result: Option<String>,
}

/// The feed's backlog as it stands: counts, and the newest waiting result's line.
pub fn preview(conn: &mut Connection, settings: &Settings, now: DateTime<Utc>) -> Result<Preview> {
    let rules = fee_rules(settings);
    let alerts = read(conn, Stream::Alerts, &Stream::Alerts.load(conn)?, &rules)?;
    let results = read(conn, Stream::Results, &Stream::Results.load(conn)?, &rules)?;
    Ok(Preview {
        alerts: alerts.totals.n,
        results: results.totals.n,
        last_result: results
            .last
            .as_ref()
            .or(results.kept.last().map(|(view, _)| view))
            .map(|view| trade_text::result_line(view, now)),
    })
}
