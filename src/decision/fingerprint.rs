//! The pure fingerprints of a decision. [`content_hash`]: a 64-bit fingerprint of the values
//! a decision writes (each value tagged, strings length-prefixed, mixed a 64-bit word at a
//! time), stored in `trades.content_hash`. A bulk re-log compares it in an index instead of
//! reading back the whole row: equal fingerprints are a plain duplicate; anything else (a
//! different decision, or a row older than the column) goes to the canonical comparison in
//! [`super::conflict`]. [`canonical_fingerprint`]: what that comparison compares, kept for
//! archived decisions. Both functions are part of the stored data: change the first and old
//! rows only take the slower path, never a wrong answer; never change the second.

use rust_decimal::Decimal;

use super::Decision;
use crate::time::to_db;

/// Odd 64-bit constants (from splitmix64 / murmur3's finaliser).
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
const MULTIPLIER: u64 = 0xBF58_476D_1CE4_E5B9;

/// Accumulates values in the order they are written.
pub struct Fingerprint(u64);

impl Fingerprint {
    pub fn new() -> Fingerprint {
        Fingerprint(SEED)
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(MULTIPLIER).rotate_left(29);
    }

    /// Text (or NULL), length-prefixed so that adjacent values cannot run together.
    pub fn text(&mut self, value: Option<&str>) {
        let Some(s) = value else {
            return self.word(0);
        };
        self.word(1 | (s.len() as u64) << 8);
        let mut chunks = s.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.word(u64::from_le_bytes(tail));
    }

    pub fn int(&mut self, value: Option<i64>) {
        match value {
            None => self.word(0),
            Some(i) => {
                self.word(2);
                self.word(i as u64);
            }
        }
    }

    /// A decimal as parsed (its digits and scale: "5.0" and "5.00" differ here, and the
    /// canonical comparison then finds them equal).
    pub fn decimal(&mut self, value: Option<rust_decimal::Decimal>) {
        match value {
            None => self.word(0),
            Some(d) => {
                let b = d.serialize();
                self.word(3);
                self.word(u64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]));
                self.word(u64::from_le_bytes([
                    b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15],
                ]));
            }
        }
    }

    pub fn real(&mut self, value: Option<f64>) {
        match value {
            None => self.word(0),
            Some(f) => {
                self.word(4);
                self.word(f.to_bits());
            }
        }
    }

    /// The value stored (SQLite integers are signed), after a final avalanche.
    pub fn finish(&self) -> i64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^= h >> 33;
        h as i64
    }
}

/// The fingerprint of what the log writes for `d` (its content, not its id), given its
/// timestamp and window as stored.
pub fn content_hash(d: &Decision, timestamp: &str, window: Option<&(String, String)>) -> i64 {
    fields(d, timestamp, Some(window), false)
}

/// The fingerprint of a decision's canonical content, as `conflict.rs` compares it:
/// amounts by value (`"5.00"` and `5` alike), the time to the second, every other field as
/// stored. Unlike the live comparison it leaves out the market window (the stored one may
/// have come from Gamma), so a re-log that differs only in an explicit `market_start` /
/// `market_end` is a duplicate.
pub fn canonical_fingerprint(d: &Decision) -> i64 {
    fields(d, &to_db(d.timestamp), None, true)
}

/// Both fingerprints: the decision's fields in one order, the window where given (`Some`,
/// even of None), and with `by_value` amounts by value and -0.0 as 0.0. The order and the
/// values fed are what stored fingerprints were made of: never change them.
fn fields(
    d: &Decision,
    timestamp: &str,
    window: Option<Option<&(String, String)>>,
    by_value: bool,
) -> i64 {
    // -0.0 and 0.0 compare equal, so they fingerprint alike.
    let real = |v: Option<f64>| match by_value {
        true => v.map(|v| if v == 0.0 { 0.0 } else { v }),
        false => v,
    };
    let amount = |v: Option<Decimal>| match by_value {
        true => v.map(|v| {
            if v.is_zero() {
                Decimal::ZERO
            } else {
                v.normalize()
            }
        }),
        false => v,
    };
    let mut f = Fingerprint::new();
    f.text(Some(timestamp));
    f.text(Some(&d.market_slug));
    f.int(d.market_id);
    f.text(Some(d.action.as_str()));
    f.real(real(Some(d.confidence)));
    f.text(d.reasoning.as_deref());
    f.int(d.time_remaining_seconds);
    f.int(d.is_end_phase.map(i64::from));
    for score in [
        d.social_score,
        d.market_score,
        d.final_score,
        d.final_confidence,
        d.rsi,
        d.macd,
    ] {
        f.real(real(score));
    }
    f.text(d.signal_type.as_deref());
    f.text(d.trend.as_deref());
    for value in [
        Some(d.position_size),
        Some(d.btc_price),
        d.price_to_beat,
        d.yes_price,
        d.no_price,
        d.executed_price,
        d.fee_rate,
        d.fee_paid,
    ] {
        f.decimal(amount(value));
    }
    if let Some(window) = window {
        f.text(window.map(|w| w.0.as_str()));
        f.text(window.map(|w| w.1.as_str()));
    }
    f.text(Some(d.liquidity.as_str()));
    // Only when logged: a decision without one keeps the fingerprint it always had.
    if d.bankroll.is_some() {
        f.decimal(amount(d.bankroll));
    }
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[Option<&str>]) -> i64 {
        let mut f = Fingerprint::new();
        for v in values {
            f.text(*v);
        }
        f.finish()
    }

    #[test]
    fn values_do_not_run_together() {
        assert_ne!(of(&[Some("ab"), Some("c")]), of(&[Some("a"), Some("bc")]));
        assert_ne!(of(&[None, Some("")]), of(&[Some(""), None]));
        assert_eq!(of(&[Some("a"), None]), of(&[Some("a"), None]));
        let mut int = Fingerprint::new();
        int.int(Some(0));
        let mut real = Fingerprint::new();
        real.real(Some(0.0));
        assert_ne!(int.finish(), real.finish());
    }
}

#[cfg(test)]
mod pinned {
    use super::*;

    /// Stored fingerprints were made by these functions: the same decision must give the same
    /// numbers in every version (a change would make every re-log of a stored decision a
    /// conflict). The values were taken from the version before the two shared one walk.
    #[test]
    fn fingerprints_of_a_known_decision_never_change() {
        let mut d = Decision::from_json(crate::decision::tests::GOOD).unwrap();
        let window = Some((
            "2026-02-11 10:15:00".to_string(),
            "2026-02-11 10:30:00".to_string(),
        ));
        let at = to_db(d.timestamp);
        let live = content_hash(&d, &at, window.as_ref());
        let none = content_hash(&d, &at, None);
        let canonical = canonical_fingerprint(&d);
        d.bankroll = Some(Decimal::new(25000, 2));
        d.social_score = Some(-0.0);
        let with_bankroll = (content_hash(&d, &at, None), canonical_fingerprint(&d));
        assert_eq!(
            (live, none, canonical, with_bankroll),
            (PIN[0], PIN[1], PIN[2], (PIN[3], PIN[4]))
        );
    }

    const PIN: [i64; 5] = [
        -5914605215100719780,
        -1328867760912220722,
        7694850403431782884,
        -3624819381495145816,
        -6125005905985283332,
    ];
}
