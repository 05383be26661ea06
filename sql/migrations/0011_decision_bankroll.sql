-- Issue 24: the trader's bankroll with each decision (optional; USDC, a REAL at 6 places like
-- every money column). The exposure fraction is a share of it, so the adjuster's replay and
-- `polyperf evaluate` judge an exposure change only against the bankroll the trader logged,
-- never against one guessed from the stakes. Rows logged before it have none (NULL): an
-- exposure change over them is not judged.
ALTER TABLE trades ADD COLUMN bankroll REAL;
