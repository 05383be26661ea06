//! Why a pending decision without a usable market window is set aside (pure; the texts land in
//! `trades.unsettleable_reason`). Such a decision is never counted as a loss.

/// The reason for a decision whose window neither its slug, its own fields nor Gamma gave,
/// [`super::NO_WINDOW_WAIT_HOURS`] after it was logged.
pub fn no_window(gamma_enabled: bool, gamma_knows_market: bool) -> &'static str {
    match (gamma_enabled, gamma_knows_market) {
        (false, _) => {
            "no market window: the slug gives none and Gamma is not asked (disabled, or --source price)"
        }
        (true, true) => "no market window: Gamma knows the market but gives no window",
        (true, false) => "no market window: the slug gives none and Gamma does not know the market",
    }
}

/// The reason for a decision whose stored `market_end` cannot be used: not a timestamp, or
/// outside 2020..2100 (written before windows were bounded, or by hand).
pub fn unusable_end(market_end: Option<&str>) -> String {
    let shown: String = market_end.unwrap_or_default().chars().take(40).collect();
    match market_end.map(crate::time::from_db) {
        Some(Ok(_)) => format!("no market window: market_end {shown} is outside 2020 to 2100"),
        _ => format!("market_end {shown:?} is not a timestamp"),
    }
}

/// The reason for a decision whose timestamp lies far from its market's window (naming both).
pub fn far_from_window(
    timestamp: chrono::DateTime<chrono::Utc>,
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: chrono::DateTime<chrono::Utc>,
) -> String {
    use crate::time::to_db;
    let window = match start {
        Some(start) => format!("{} to {}", to_db(start), to_db(end)),
        None => format!("ending {}", to_db(end)),
    };
    if timestamp == chrono::DateTime::<chrono::Utc>::MIN_UTC {
        return format!("timestamp is not a time (its market's window {window})");
    }
    format!(
        "timestamp {} is far from its market's window {window}",
        to_db(timestamp)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_say_what_is_missing() {
        assert!(no_window(false, false).contains("not asked"));
        assert!(no_window(true, false).contains("does not know"));
        assert!(no_window(true, true).contains("no window"));
        assert_eq!(
            unusable_end(Some("+13434-01-23 07:45:00")),
            "no market window: market_end +13434-01-23 07:45:00 is outside 2020 to 2100"
        );
        assert_eq!(
            unusable_end(Some("soon")),
            "market_end \"soon\" is not a timestamp"
        );
    }
}
