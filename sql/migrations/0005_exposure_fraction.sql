-- bot_max_exposure_percent always held a fraction of the bankroll (0.50 = half), never a
-- percentage; it is renamed bot_max_exposure_fraction so that its name says what its value is.
-- Renamed everywhere the name appears: the live parameter (value, bounds and update time kept),
-- its history and its proposals. The values never changed meaning, so the record stays true,
-- and every reader (cooldown, rollback watch, rollback, evaluate) finds one name.
UPDATE parameters
   SET name = 'bot_max_exposure_fraction',
       description = 'largest fraction of the bankroll at risk at once (0.50 = half of it)'
 WHERE name = 'bot_max_exposure_percent'
   AND NOT EXISTS (SELECT 1 FROM parameters WHERE name = 'bot_max_exposure_fraction');
UPDATE proposals
   SET parameter_name = 'bot_max_exposure_fraction'
 WHERE parameter_name = 'bot_max_exposure_percent';
UPDATE parameter_history
   SET parameter_name = 'bot_max_exposure_fraction'
 WHERE parameter_name = 'bot_max_exposure_percent';
