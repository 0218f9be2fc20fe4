-- The audit trail cannot be trimmed unseen. The event chain's head only moves forward, one appended
-- event at a time; the audit log gets a hash chain and a head of its own, computed here in the
-- database for every insert; neither log nor head can be updated, deleted or truncated. (Whoever can
-- bypass triggers — a superuser, `session_replication_role = replica`, the tables' owner disabling
-- them — still can; `radportal audit verify` finds edits through the chains, and trimming through
-- signed checkpoints kept outside the database.)

-- One function refuses truncation for every table of the trail.
create function audit_trail_no_truncate() returns trigger
language plpgsql as $$
begin
    raise exception '% is append-only: it cannot be truncated', tg_table_name;
end
$$;

create trigger events_no_truncate before truncate on events
    for each statement execute function audit_trail_no_truncate();

-- From now on the event head always exists; a chain without events has the genesis head.
insert into events_head (last_id, last_hash, event_count)
select 0, decode(repeat('00', 32), 'hex'), 0
where not exists (select 1 from events_head);

-- The head may only advance to the event just appended after it. Inserts are left to the primary
-- key: the one row always exists, so an insert fails or (with ON CONFLICT) becomes this update.
create function events_head_forward_only() returns trigger
language plpgsql as $$
declare
    newest events%rowtype;
begin
    if tg_op = 'INSERT' then
        return new;
    end if;
    if tg_op = 'DELETE' then
        raise exception 'events_head cannot be deleted: it records the newest event';
    end if;
    select * into newest from events where id = new.last_id;
    if not new.singleton
        or new.event_count <> old.event_count + 1
        or new.last_id <= old.last_id
        or newest.id is null
        or newest.hash <> new.last_hash
        or newest.prev_hash <> old.last_hash then
        raise exception 'events_head only moves forward, to the event appended after it';
    end if;
    return new;
end
$$;

create trigger events_head_guard before insert or update or delete on events_head
    for each row execute function events_head_forward_only();

create trigger events_head_no_truncate before truncate on events_head
    for each statement execute function audit_trail_no_truncate();

-- The audit log's chain. An entry's hash is SHA-256 over the previous entry's hash and its content:
-- each field as its length in UTF-8 bytes, a colon and the field (so no two contents read alike);
-- the actor (`-` for none), action, target type, target id, the details as PostgreSQL writes jsonb,
-- and the time in microseconds since 1970. `radportal audit verify` recomputes it on its own.
create function audit_log_field(value text) returns text
language sql immutable as $$
    select octet_length(convert_to(value, 'UTF8')) || ':' || value
$$;

create function audit_log_content(
    actor_id bigint, action text, target_type text, target_id text, details jsonb,
    occurred_at timestamptz
) returns bytea
language sql stable as $$
    select convert_to(
        audit_log_field(coalesce(actor_id::text, '-'))
            || audit_log_field(action)
            || audit_log_field(target_type)
            || audit_log_field(target_id)
            || audit_log_field(details::text)
            || audit_log_field(((extract(epoch from occurred_at) * 1000000)::bigint)::text),
        'UTF8')
$$;

alter table audit_log
    add column prev_hash bytea,
    add column hash bytea;

create table audit_log_head (
    singleton boolean primary key default true constraint audit_log_head_singleton check (singleton),
    last_id bigint not null,
    last_hash bytea not null,
    entry_count bigint not null
);

-- Entries written before this migration join the chain in the order of their ids.
do $$
declare
    entry audit_log%rowtype;
    previous bytea := decode(repeat('00', 32), 'hex');
    newest bigint := 0;
    total bigint := 0;
begin
    for entry in select * from audit_log order by id loop
        update audit_log
        set prev_hash = previous,
            hash = sha256(previous || audit_log_content(entry.actor_id, entry.action,
                entry.target_type, entry.target_id, entry.details, entry.occurred_at))
        where id = entry.id
        returning hash into previous;
        newest := entry.id;
        total := total + 1;
    end loop;
    insert into audit_log_head (last_id, last_hash, entry_count) values (newest, previous, total);
end
$$;

alter table audit_log
    alter column prev_hash set not null,
    alter column hash set not null;

-- Appends are serialised by the head row's lock, held until the appending transaction ends. It is
-- taken before the statement's rows get their ids, so ids grow in the order of the chain.
create function audit_log_lock_head() returns trigger
language plpgsql as $$
begin
    perform 1 from audit_log_head for update;
    return null;
end
$$;

create trigger audit_log_lock_head before insert on audit_log
    for each statement execute function audit_log_lock_head();

create function audit_log_chain() returns trigger
language plpgsql as $$
declare
    head audit_log_head%rowtype;
begin
    select * into head from audit_log_head for update;
    new.prev_hash := head.last_hash;
    new.hash := sha256(head.last_hash || audit_log_content(new.actor_id, new.action,
        new.target_type, new.target_id, new.details, new.occurred_at));
    update audit_log_head
    set last_id = new.id, last_hash = new.hash, entry_count = head.entry_count + 1;
    return new;
end
$$;

create trigger audit_log_chain before insert on audit_log
    for each row execute function audit_log_chain();

create function audit_log_append_only() returns trigger
language plpgsql as $$
begin
    raise exception 'audit_log is append-only';
end
$$;

create trigger audit_log_no_update before update or delete on audit_log
    for each row execute function audit_log_append_only();

create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_trail_no_truncate();

-- The audit log's head moves only inside the chain trigger above, one entry at a time.
create function audit_log_head_forward_only() returns trigger
language plpgsql as $$
begin
    if tg_op = 'UPDATE'
        and pg_trigger_depth() > 1
        and new.singleton
        and new.entry_count = old.entry_count + 1
        and new.last_id > old.last_id then
        return new;
    end if;
    raise exception 'audit_log_head moves only when an entry is added to audit_log';
end
$$;

create trigger audit_log_head_guard before insert or update or delete on audit_log_head
    for each row execute function audit_log_head_forward_only();

create trigger audit_log_head_no_truncate before truncate on audit_log_head
    for each statement execute function audit_trail_no_truncate();
