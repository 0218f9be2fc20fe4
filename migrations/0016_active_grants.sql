-- What "a grant in force" and "an active grant" mean, defined once for every query.
--
-- A current grant is neither revoked nor past its end; it may be suspended (its holder can still
-- accept the new agreement, and is still reminded before it ends).
create view current_grants as
    select * from grants
    where revoked_at is null and expires_at > now();

-- An active grant lets its holder use the data now: current and not suspended. A grant waiting for
-- the re-acceptance of a new agreement version stays active until its deadline, when it is suspended.
-- `Grant::status` and `GrantStatus::allows_access` say the same in the code.
create view active_grants as
    select * from current_grants
    where suspended_at is null;
