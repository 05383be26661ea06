-- bot_max_exposure_percent always held a fraction of the bankroll (0.50 = half), never a
-- percentage; it is renamed bot_max_exposure_fraction so that its name says what its value is.
-- Renamed: the live parameter (value, bounds and update time kept) and the proposals still to be
-- decided (pending, awaiting approval), so that an approval applies to the renamed row.
-- Kept: parameter_history and decided proposals, an audit trail of what was done under which
-- name (README, "The trader's contract").
UPDATE parameters
   SET name = 'bot_max_exposure_fraction',
       description = 'largest fraction of the bankroll at risk at once (0.50 = half of it)'
 WHERE name = 'bot_max_exposure_percent'
   AND NOT EXISTS (SELECT 1 FROM parameters WHERE name = 'bot_max_exposure_fraction');
UPDATE proposals
   SET parameter_name = 'bot_max_exposure_fraction'
 WHERE parameter_name = 'bot_max_exposure_percent'
   AND status IN ('pending', 'awaiting_approval');
