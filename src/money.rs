//! The rules of money, with no I/O: fees as the venue charges them ([`fees`]: logged, maker,
//! taker formula; shares or collateral by era), the P&L of one position and the break-even win
//! rate ([`pnl`]), and the bounds that keep every one of them exact. Exact `rust_decimal`
//! throughout. The one implementation: settlement, `settle-check`, the replay, the rules
//! engine, the metrics and the Telegram feed all come here.

use rust_decimal::Decimal;

pub mod fees;
pub mod pnl;

/// Largest `position_size` (USDC) of one decision.
pub const MAX_POSITION_SIZE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// Lowest and highest `executed_price` of a YES/NO: the exchange's price range (ticks of 0.001
/// at the extremes).
pub const MIN_EXECUTED_PRICE: Decimal = Decimal::from_parts(1, 0, 0, false, 3);
pub const MAX_EXECUTED_PRICE: Decimal = Decimal::from_parts(999, 0, 0, false, 3);
/// Most shares one position may buy (`position_size / executed_price`, 10^8): with it every
/// payout and P&L stays below 10^9 USDC, where the money columns (REAL) hold 6 decimal places
/// exactly.
pub const MAX_SHARES: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 0);
