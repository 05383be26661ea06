//! The order-dependent figures of a run of settled positions (drawdown, losing streaks, the
//! equity curve's turning points) summarised so that summaries compose: a day's positions, or
//! the part of a day one archive file took, fold into one [`Path`], and the paths of
//! consecutive runs compose (`a.then(&b)`) into the path of the whole, exactly. Pure.
//!
//! The order is one rule, written down here: positions in the order of their `timestamp` as
//! stored, then their row id (`ORDER BY timestamp, id`, as the live rows are read). The archive
//! builds a part's path in that order; metrics folds the live rows in it and puts each archived
//! part where its first position falls in it.

use rust_decimal::Decimal;

/// A point of a path: its level (P&L since the path's start), when (Unix seconds), and after
/// how many of the path's positions (0: its start), which orders points of one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub level: Decimal,
    pub at: i64,
    pub seq: u64,
}

/// The summary of a non-empty run of settled positions, in the order above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    /// Its first and last position's time (Unix seconds).
    pub first_at: i64,
    pub last_at: i64,
    /// Positions in it.
    pub positions: u64,
    /// The P&L of the whole run.
    pub net: Decimal,
    /// Its highest and lowest cumulative point, the start (0) included.
    pub high: Mark,
    pub low: Mark,
    /// The largest fall inside it from an earlier point (the start included): from `peak`
    /// down by `drawdown` to `trough`.
    pub drawdown: Decimal,
    pub peak: Mark,
    pub trough: Mark,
    /// Losses before its first win, after its last win, and the longest run of losses in it.
    /// A 50-50 is neither a win nor a loss: it neither extends nor ends a run.
    pub run_start: u64,
    pub run_end: u64,
    pub run_longest: u64,
    /// No win in it: the whole run is one run of losses (`run_start` of them).
    pub one_run: bool,
}

impl Path {
    /// One position at `at` with P&L `profit`; `won` None for a 50-50.
    pub fn unit(at: i64, profit: Decimal, won: Option<bool>) -> Path {
        let start = Mark {
            level: Decimal::ZERO,
            at,
            seq: 0,
        };
        let end = Mark {
            level: profit,
            at,
            seq: 1,
        };
        let loss = u64::from(won == Some(false));
        Path {
            first_at: at,
            last_at: at,
            positions: 1,
            net: profit,
            high: if profit > Decimal::ZERO { end } else { start },
            low: if profit < Decimal::ZERO { end } else { start },
            drawdown: (-profit).max(Decimal::ZERO),
            peak: start,
            trough: if profit < Decimal::ZERO { end } else { start },
            run_start: loss,
            run_end: loss,
            run_longest: loss,
            one_run: won != Some(true),
        }
    }

    /// This run, then `next`: the summary of both.
    pub fn then(&self, next: &Path) -> Path {
        let shift = |m: Mark| Mark {
            level: self.net + m.level,
            at: m.at,
            seq: self.positions + m.seq,
        };
        let (high, low) = (shift(next.high), shift(next.low));
        // Ties keep the earlier point.
        let mut drawdown = (self.drawdown, self.peak, self.trough);
        let across = self.high.level - low.level;
        if across > drawdown.0 {
            drawdown = (across, self.high, low);
        }
        if next.drawdown > drawdown.0 {
            drawdown = (next.drawdown, shift(next.peak), shift(next.trough));
        }
        let (run_start, run_end, run_longest) = match (self.one_run, next.one_run) {
            (true, true) => {
                let all = self.run_start + next.run_start;
                (all, all, all)
            }
            (true, false) => {
                let start = self.run_start + next.run_start;
                (start, next.run_end, next.run_longest.max(start))
            }
            (false, true) => {
                let end = self.run_end + next.run_end;
                (self.run_start, end, self.run_longest.max(end))
            }
            (false, false) => (
                self.run_start,
                next.run_end,
                self.run_longest
                    .max(next.run_longest)
                    .max(self.run_end + next.run_start),
            ),
        };
        Path {
            first_at: self.first_at,
            last_at: next.last_at,
            positions: self.positions + next.positions,
            net: self.net + next.net,
            high: if high.level > self.high.level {
                high
            } else {
                self.high
            },
            low: if low.level < self.low.level {
                low
            } else {
                self.low
            },
            drawdown: drawdown.0,
            peak: drawdown.1,
            trough: drawdown.2,
            run_start,
            run_end,
            run_longest,
            one_run: self.one_run && next.one_run,
        }
    }

    /// The points an equity chart draws for this run, starting at level `from`, in order: its
    /// start, highest, lowest, largest fall's peak and trough, and its end. Any fall the whole
    /// curve has, drawn from these points, is the one computed (its peak is some run's highest
    /// point or a fall's peak, its trough a lowest point or a fall's trough).
    pub fn chart_points(&self, from: Decimal) -> Vec<(i64, Decimal)> {
        let start = Mark {
            level: Decimal::ZERO,
            at: self.first_at,
            seq: 0,
        };
        let end = Mark {
            level: self.net,
            at: self.last_at,
            seq: self.positions,
        };
        let mut marks = vec![start, self.high, self.low, self.peak, self.trough, end];
        marks.sort_by_key(|m| m.seq);
        marks.dedup_by_key(|m| m.seq);
        marks.into_iter().map(|m| (m.at, from + m.level)).collect()
    }
}

/// Folds paths in order: `None` is the empty run.
pub fn then(acc: Option<Path>, next: &Path) -> Option<Path> {
    Some(match acc {
        None => *next,
        Some(acc) => acc.then(next),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The figures as metrics computed them before summaries existed: one pass over the
    /// positions, the curve starting at 0.
    fn direct(steps: &[(i64, Option<bool>)]) -> (Decimal, u64, u64, Decimal) {
        let (mut cumulative, mut peak, mut drawdown) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let (mut streak, mut longest) = (0u64, 0u64);
        for (pl, won) in steps {
            cumulative += Decimal::from(*pl);
            peak = peak.max(cumulative);
            drawdown = drawdown.max(peak - cumulative);
            match won {
                Some(true) => streak = 0,
                Some(false) => {
                    streak += 1;
                    longest = longest.max(streak);
                }
                None => {}
            }
        }
        (drawdown, longest, streak, cumulative)
    }

    fn units(steps: &[(i64, Option<bool>)]) -> Vec<Path> {
        steps
            .iter()
            .enumerate()
            .map(|(i, (pl, won))| Path::unit(i as i64, Decimal::from(*pl), *won))
            .collect()
    }

    fn fold(paths: &[Path]) -> Option<Path> {
        paths.iter().fold(None, then)
    }

    fn step() -> impl Strategy<Value = (i64, Option<bool>)> {
        prop_oneof![
            (1i64..50).prop_map(|p| (p, Some(true))),
            (-50i64..0).prop_map(|p| (p, Some(false))),
            (-3i64..3).prop_map(|p| (p, None)),
        ]
    }

    proptest! {
        /// Random sequences cut at random points into parts (days, or the parts of a day two
        /// archive runs took), each part summarised, the summaries composed in order (grouped
        /// at random as well): the same drawdown, streaks and P&L as the whole, and as the
        /// direct pass.
        #[test]
        fn parts_compose_to_the_whole(
            steps in proptest::collection::vec(step(), 1..80),
            cuts in proptest::collection::vec(0usize..80, 0..10),
            split in 0usize..10,
        ) {
            let all = units(&steps);
            let whole = fold(&all).unwrap();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % steps.len()).collect();
            cuts.push(0);
            cuts.push(steps.len());
            cuts.sort_unstable();
            cuts.dedup();
            let parts: Vec<Path> = cuts
                .windows(2)
                .map(|w| fold(&all[w[0]..w[1]]).unwrap())
                .collect();
            prop_assert_eq!(fold(&parts).unwrap(), whole);
            // Associativity: the parts' summaries grouped another way.
            let k = split % parts.len();
            let (left, right) = (fold(&parts[..k]), fold(&parts[k..]));
            let regrouped = match left {
                Some(l) => l.then(&right.unwrap()),
                None => right.unwrap(),
            };
            prop_assert_eq!(regrouped, whole);
            let (drawdown, longest, current, net) = direct(&steps);
            prop_assert_eq!(
                (whole.drawdown, whole.run_longest, whole.run_end, whole.net),
                (drawdown, longest, current, net)
            );
        }

        /// The chart's points of the parts, one after another, show the same largest fall.
        #[test]
        fn chart_points_keep_the_drawdown(
            steps in proptest::collection::vec(step(), 1..60),
            cuts in proptest::collection::vec(0usize..60, 0..6),
        ) {
            let all = units(&steps);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % steps.len()).collect();
            cuts.extend([0, steps.len()]);
            cuts.sort_unstable();
            cuts.dedup();
            let (mut level, mut points) = (Decimal::ZERO, Vec::new());
            for w in cuts.windows(2) {
                let part = fold(&all[w[0]..w[1]]).unwrap();
                points.extend(part.chart_points(level));
                level += part.net;
            }
            let (mut peak, mut deepest) = (Decimal::ZERO, Decimal::ZERO);
            for (_, y) in points {
                peak = peak.max(y);
                deepest = deepest.max(peak - y);
            }
            prop_assert_eq!(deepest, direct(&steps).0);
        }
    }

    #[test]
    fn a_known_path() {
        // +4, -5, -5, +5, +4, +4, -1: peak 4, trough -6, longest 2 losses, 1 at the end.
        let steps = [
            (4, Some(true)),
            (-5, Some(false)),
            (-5, Some(false)),
            (5, Some(true)),
            (4, Some(true)),
            (4, Some(true)),
            (-1, Some(false)),
        ];
        let p = fold(&units(&steps)).unwrap();
        assert_eq!(
            (p.drawdown, p.run_longest, p.run_end, p.net),
            (Decimal::from(10), 2, 1, Decimal::from(6))
        );
        assert_eq!(
            (p.peak.level, p.peak.seq, p.trough.seq),
            (Decimal::from(4), 1, 3)
        );
        assert_eq!(
            (p.high.level, p.low.level),
            (Decimal::from(7), Decimal::from(-6))
        );
    }
}
