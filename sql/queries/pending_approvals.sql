-- Parameter proposals waiting for a human (approve with: polyperf proposals approve ID).
.mode column
.headers on
SELECT id, created_at, parameter_name, current_value, proposed_value, tier, expires_at, reason
FROM proposals
WHERE status = 'awaiting_approval'
ORDER BY id;
