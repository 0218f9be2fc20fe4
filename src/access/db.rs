//! All SQL of the access workflow: governance, agreements, projects, the cart, requests, votes, grants,
//! timelines and notifications.

use sqlx::{PgConnection, PgExecutor};
use time::{Date, OffsetDateTime};

use super::model::{
    Dac, DuaVersion, Event, Governed, Grant, Member, Notification, Project, RequestDataset,
    RequestSummary, Vote, VoteChoice,
};
use super::state::RequestState;

const GOVERNED: &str =
    "select d.id as dataset_id, d.slug, d.title, d.data_use_limitations, d.conditions,
        d.access_instructions, g.dac_id, c.name as dac_name, g.dua_id, a.slug as dua_slug,
        a.title as dua_title, g.default_grant_days, g.required_credentials
     from dataset_governance g
     join datasets d on d.id = g.dataset_id
     join dacs c on c.id = g.dac_id
     join duas a on a.id = g.dua_id";

/// The governance of a published controlled dataset, by slug.
pub async fn governed(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<Governed>> {
    sqlx::query_as(&format!(
        "{GOVERNED} where d.slug = $1 and d.status = 'published' and d.access_level = 'controlled'"
    ))
    .bind(slug)
    .fetch_optional(db)
    .await
}

/// The governed datasets in a researcher's cart, grouped by committee.
pub async fn cart(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Governed>> {
    sqlx::query_as(&format!(
        "{GOVERNED} join cart_items i on i.dataset_id = d.id
         where i.user_id = $1 and d.status = 'published' and d.access_level = 'controlled'
         order by c.name, d.title"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn add_to_cart(
    db: impl PgExecutor<'_>,
    user_id: i64,
    dataset_id: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into cart_items (user_id, dataset_id) values ($1, $2) on conflict do nothing",
    )
    .bind(user_id)
    .bind(dataset_id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn remove_from_cart(
    db: impl PgExecutor<'_>,
    user_id: i64,
    dataset_ids: &[i64],
) -> sqlx::Result<()> {
    sqlx::query("delete from cart_items where user_id = $1 and dataset_id = any($2)")
        .bind(user_id)
        .bind(dataset_ids)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn cart_count(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from cart_items where user_id = $1")
        .bind(user_id)
        .fetch_one(db)
        .await
}

const DUA_VERSION: &str =
    "select v.id, v.dua_id, a.slug as dua_slug, a.title as dua_title, v.version,
        v.body, v.content_hash, v.effective_on, v.published_at
     from dua_versions v join duas a on a.id = v.dua_id";

/// The version of an agreement in force today: the newest one already effective.
pub async fn dua_in_force(
    db: impl PgExecutor<'_>,
    dua_id: i64,
) -> sqlx::Result<Option<DuaVersion>> {
    sqlx::query_as(&format!(
        "{DUA_VERSION} where v.dua_id = $1 and v.effective_on <= current_date
         order by v.version desc limit 1"
    ))
    .bind(dua_id)
    .fetch_optional(db)
    .await
}

/// Every version of an agreement, newest first.
pub async fn dua_versions(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Vec<DuaVersion>> {
    sqlx::query_as(&format!(
        "{DUA_VERSION} where a.slug = $1 order by v.version desc"
    ))
    .bind(slug)
    .fetch_all(db)
    .await
}

/// Publishes a new version of an agreement and marks the grants under it "re-acceptance required",
/// with `grace_days` to accept. Returns the new version number.
pub async fn publish_dua_version(
    tx: &mut PgConnection,
    dua_id: i64,
    body: &str,
    effective_on: Date,
    published_by: Option<i64>,
    grace_days: i32,
) -> sqlx::Result<i32> {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(body.as_bytes()).to_vec();
    let version: i32 = sqlx::query_scalar(
        "insert into dua_versions (dua_id, version, body, content_hash, effective_on, published_by)
         select $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5 from dua_versions where dua_id = $1
         returning version",
    )
    .bind(dua_id)
    .bind(body)
    .bind(&hash)
    .bind(effective_on)
    .bind(published_by)
    .fetch_one(&mut *tx)
    .await?;
    if version > 1 {
        sqlx::query(
            "update grants g set reaccept_by = greatest(now(), $2::date::timestamptz) + make_interval(days => $3)
             from dataset_governance gov
             where gov.dataset_id = g.dataset_id and gov.dua_id = $1
               and g.revoked_at is null and g.expires_at > now() and g.reaccept_by is null",
        )
        .bind(dua_id)
        .bind(effective_on)
        .bind(grace_days)
        .execute(&mut *tx)
        .await?;
    }
    Ok(version)
}

pub async fn find_dac(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Dac>> {
    sqlx::query_as(
        "select id, slug, name, description, policy, required_votes from dacs where id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The committees `user_id` sits on.
pub async fn dacs_of(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Dac>> {
    sqlx::query_as(
        "select d.id, d.slug, d.name, d.description, d.policy, d.required_votes
         from dacs d join dac_members m on m.dac_id = d.id where m.user_id = $1 order by d.name",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Addresses of a committee's active members, for notifications.
pub async fn dac_members(db: impl PgExecutor<'_>, dac_id: i64) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "select u.id, u.email::text from dac_members m join users u on u.id = m.user_id
         where m.dac_id = $1 and u.disabled_at is null and u.closed_at is null order by u.id",
    )
    .bind(dac_id)
    .fetch_all(db)
    .await
}

/// Whether `reviewer_id` sits on a committee that has a request from `applicant_id` (so may see the
/// applicant's credentials and their evidence).
pub async fn reviews_applicant(
    db: impl PgExecutor<'_>,
    reviewer_id: i64,
    applicant_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from access_requests r join dac_members m on m.dac_id = r.dac_id
                        where m.user_id = $1 and r.applicant_id = $2 and r.state <> 'draft')",
    )
    .bind(reviewer_id)
    .bind(applicant_id)
    .fetch_one(db)
    .await
}

pub async fn is_dac_member(
    db: impl PgExecutor<'_>,
    user_id: i64,
    dac_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from dac_members where user_id = $1 and dac_id = $2)",
    )
    .bind(user_id)
    .bind(dac_id)
    .fetch_one(db)
    .await
}

const PROJECT_COLUMNS: &str = "id, owner_id, title, research_use, purpose, diseases, methods_development,
    commercial, for_profit, genetic, clinical_care, country, pi_name, institution, irb_number, irb_body,
    irb_expires_on, security_plan, created_at, updated_at";

pub async fn projects_of(db: impl PgExecutor<'_>, owner_id: i64) -> sqlx::Result<Vec<Project>> {
    sqlx::query_as(&format!(
        "select {PROJECT_COLUMNS} from projects where owner_id = $1 order by updated_at desc, id desc"
    ))
    .bind(owner_id)
    .fetch_all(db)
    .await
}

pub async fn find_project(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Project>> {
    sqlx::query_as(&format!(
        "select {PROJECT_COLUMNS} from projects where id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A project's fields as saved.
pub struct ProjectInput {
    pub title: String,
    pub research_use: String,
    pub purpose: String,
    pub diseases: Vec<String>,
    pub methods_development: bool,
    pub commercial: bool,
    pub for_profit: bool,
    pub genetic: bool,
    pub clinical_care: bool,
    pub country: String,
    pub pi_name: String,
    pub institution: String,
    pub irb_number: String,
    pub irb_body: String,
    pub irb_expires_on: Option<Date>,
    pub security_plan: String,
    pub members: Vec<String>,
}

/// Creates (`id` = None) or updates a project of `owner_id`, with its team. Returns the id, or `None`
/// when the project is not the owner's.
pub async fn save_project(
    tx: &mut PgConnection,
    owner_id: i64,
    id: Option<i64>,
    input: &ProjectInput,
) -> sqlx::Result<Option<i64>> {
    let sql = match id {
        None => {
            "insert into projects (owner_id, title, research_use, purpose, diseases, methods_development,
                 commercial, for_profit, genetic, clinical_care, country, pi_name, institution, irb_number,
                 irb_body, irb_expires_on, security_plan)
             values ($1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
             returning id"
        }
        Some(_) => {
            "update projects set title = $3, research_use = $4, purpose = $5, diseases = $6,
                 methods_development = $7, commercial = $8, for_profit = $9, genetic = $10,
                 clinical_care = $11, country = $12, pi_name = $13, institution = $14, irb_number = $15,
                 irb_body = $16, irb_expires_on = $17, security_plan = $18
             where id = $2 and owner_id = $1
             returning id"
        }
    };
    let saved: Option<i64> = sqlx::query_scalar(sql)
        .bind(owner_id)
        .bind(id)
        .bind(&input.title)
        .bind(&input.research_use)
        .bind(&input.purpose)
        .bind(&input.diseases)
        .bind(input.methods_development)
        .bind(input.commercial)
        .bind(input.for_profit)
        .bind(input.genetic)
        .bind(input.clinical_care)
        .bind(&input.country)
        .bind(&input.pi_name)
        .bind(&input.institution)
        .bind(&input.irb_number)
        .bind(&input.irb_body)
        .bind(input.irb_expires_on)
        .bind(&input.security_plan)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(project_id) = saved else {
        return Ok(None);
    };
    sqlx::query("delete from project_members where project_id = $1")
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into project_members (project_id, email, user_id)
         select $1, e, (select id from users where email = e::citext and closed_at is null)
         from unnest($2::text[]) as e
         on conflict do nothing",
    )
    .bind(project_id)
    .bind(&input.members)
    .execute(&mut *tx)
    .await?;
    Ok(Some(project_id))
}

pub async fn members(db: impl PgExecutor<'_>, project_id: i64) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as(
        "select m.email::text as email, u.id as user_id, u.name
         from project_members m left join users u on u.email = m.email and u.closed_at is null
         where m.project_id = $1 order by m.email",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Whether `user_id` is the project's owner or on its team (by account or address).
pub async fn is_on_team(
    db: impl PgExecutor<'_>,
    project_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from projects where id = $1 and owner_id = $2)
             or exists (select 1 from project_members m join users u on u.id = $2
                        where m.project_id = $1 and (m.user_id = $2 or m.email = u.email))",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// The open request of `user_id` that already asks for `dataset_id`, if any.
pub async fn open_request_for(
    db: impl PgExecutor<'_>,
    user_id: i64,
    dataset_id: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "select r.id from access_requests r join request_datasets d on d.request_id = r.id
         where r.applicant_id = $1 and d.dataset_id = $2
           and r.state in ('draft', 'submitted', 'in_review', 'changes_requested')
         order by r.id limit 1",
    )
    .bind(user_id)
    .bind(dataset_id)
    .fetch_optional(db)
    .await
}

/// A new request in `state` (draft or submitted).
pub async fn create_request(
    tx: &mut PgConnection,
    project_id: i64,
    applicant_id: i64,
    dac_id: i64,
    requested_days: i32,
    state: RequestState,
    renewal_of: Option<i64>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into access_requests (project_id, applicant_id, dac_id, requested_days, state, renewal_of,
             submitted_at)
         values ($1, $2, $3, $4, $5, $6, case when $5 = 'submitted'::request_state then now() end)
         returning id",
    )
    .bind(project_id)
    .bind(applicant_id)
    .bind(dac_id)
    .bind(requested_days)
    .bind(state)
    .bind(renewal_of)
    .fetch_one(&mut *tx)
    .await
}

/// Records the acceptance of an agreement version for one dataset of a request (replacing an earlier
/// one for the same dataset).
#[allow(clippy::too_many_arguments)]
pub async fn accept_dua(
    tx: &mut PgConnection,
    request_id: i64,
    dataset_id: i64,
    dua: &DuaVersion,
    accepted_name: &str,
    grant_days: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into request_datasets (request_id, dataset_id, dua_version_id, accepted_name, dua_hash, grant_days)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (request_id, dataset_id) do update
             set dua_version_id = excluded.dua_version_id, accepted_name = excluded.accepted_name,
                 dua_hash = excluded.dua_hash, accepted_at = now(), grant_days = excluded.grant_days",
    )
    .bind(request_id)
    .bind(dataset_id)
    .bind(dua.id)
    .bind(accepted_name)
    .bind(&dua.content_hash)
    .bind(grant_days)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

const REQUEST_SUMMARY: &str = "select r.id, r.state, r.version, r.project_id, p.title as project_title,
        r.applicant_id, u.name as applicant_name, u.email::text as applicant_email, r.dac_id,
        c.name as dac_name, r.requested_days, r.renewal_of, r.submitted_at, r.decided_at,
        dby.name as decided_by_name, r.decision_rationale, r.created_at, r.updated_at,
        coalesce((select array_agg(d.title order by d.title) from request_datasets rd
                  join datasets d on d.id = rd.dataset_id where rd.request_id = r.id), '{}') as dataset_titles
     from access_requests r
     join projects p on p.id = r.project_id
     join users u on u.id = r.applicant_id
     join dacs c on c.id = r.dac_id
     left join users dby on dby.id = r.decided_by";

pub async fn find_request(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<RequestSummary>> {
    sqlx::query_as(&format!("{REQUEST_SUMMARY} where r.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Requests where `user_id` is the applicant or on the project's team, newest first.
pub async fn requests_of(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<RequestSummary>> {
    sqlx::query_as(&format!(
        "{REQUEST_SUMMARY}
         where r.applicant_id = $1
            or exists (select 1 from project_members m join users me on me.id = $1
                       where m.project_id = r.project_id and (m.user_id = $1 or m.email = me.email))
         order by r.created_at desc, r.id desc"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// The applicant's other requests, for reviewers.
pub async fn earlier_requests(
    db: impl PgExecutor<'_>,
    applicant_id: i64,
    except: i64,
) -> sqlx::Result<Vec<RequestSummary>> {
    sqlx::query_as(&format!(
        "{REQUEST_SUMMARY} where r.applicant_id = $1 and r.id <> $2 order by r.created_at desc limit 50"
    ))
    .bind(applicant_id)
    .bind(except)
    .fetch_all(db)
    .await
}

/// What the review queue shows.
pub struct QueueFilter {
    pub states: Vec<RequestState>,
    pub dataset: Option<String>,
    /// Only requests submitted at least this many days ago.
    pub older_than_days: Option<i32>,
}

/// Requests of the committees `user_id` sits on (all committees for administrators), oldest first,
/// with counts per state.
pub async fn queue(
    db: impl PgExecutor<'_> + Copy,
    user_id: i64,
    all_committees: bool,
    filter: &QueueFilter,
) -> sqlx::Result<(Vec<RequestSummary>, Vec<(RequestState, i64)>)> {
    let scope = "($2 or r.dac_id in (select dac_id from dac_members where user_id = $1))";
    let rows = sqlx::query_as(&format!(
        "{REQUEST_SUMMARY}
         where {scope} and r.state = any($3)
           and ($4::text is null or exists (select 1 from request_datasets rd join datasets d on d.id = rd.dataset_id
                                             where rd.request_id = r.id and d.slug = $4))
           and ($5::int is null or r.submitted_at <= now() - make_interval(days => $5))
         order by r.submitted_at nulls last, r.id
         limit 500"
    ))
    .bind(user_id)
    .bind(all_committees)
    .bind(&filter.states)
    .bind(&filter.dataset)
    .bind(filter.older_than_days)
    .fetch_all(db)
    .await?;
    let counts = sqlx::query_as(&format!(
        "select r.state, count(*) from access_requests r where {scope} and r.state <> 'draft'
         group by r.state order by r.state"
    ))
    .bind(user_id)
    .bind(all_committees)
    .fetch_all(db)
    .await?;
    Ok((rows, counts))
}

pub async fn request_datasets(
    db: impl PgExecutor<'_>,
    request_id: i64,
) -> sqlx::Result<Vec<RequestDataset>> {
    sqlx::query_as(
        "select d.id as dataset_id, d.slug, d.title, d.data_use_limitations, d.conditions,
                rd.dua_version_id, a.slug as dua_slug, a.title as dua_title, v.version as dua_version,
                rd.dua_hash, rd.accepted_name, rd.accepted_at, rd.grant_days
         from request_datasets rd
         join datasets d on d.id = rd.dataset_id
         join dua_versions v on v.id = rd.dua_version_id
         join duas a on a.id = v.dua_id
         where rd.request_id = $1 order by d.title",
    )
    .bind(request_id)
    .fetch_all(db)
    .await
}

/// Moves a request from `from` (at `version`) to `to`. False when someone else changed it first.
pub async fn transition(
    tx: &mut PgConnection,
    id: i64,
    from: RequestState,
    version: i32,
    to: RequestState,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update access_requests set state = $4, version = version + 1,
             submitted_at = case when $4 = 'submitted'::request_state then now() else submitted_at end
         where id = $1 and state = $2 and version = $3",
    )
    .bind(id)
    .bind(from)
    .bind(version)
    .bind(to)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the decision on a request that was just moved to approved or rejected.
pub async fn record_decision(
    tx: &mut PgConnection,
    id: i64,
    decided_by: i64,
    rationale: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update access_requests set decided_at = now(), decided_by = $2, decision_rationale = $3 where id = $1",
    )
    .bind(id)
    .bind(decided_by)
    .bind(rationale)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn set_grant_days(
    tx: &mut PgConnection,
    request_id: i64,
    dataset_id: i64,
    days: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "update request_datasets set grant_days = $3 where request_id = $1 and dataset_id = $2",
    )
    .bind(request_id)
    .bind(dataset_id)
    .bind(days)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn votes(db: impl PgExecutor<'_>, request_id: i64) -> sqlx::Result<Vec<Vote>> {
    sqlx::query_as(
        "select v.reviewer_id, u.name as reviewer_name, v.choice, v.rationale, v.cast_at
         from request_votes v join users u on u.id = v.reviewer_id
         where v.request_id = $1 order by v.cast_at",
    )
    .bind(request_id)
    .fetch_all(db)
    .await
}

/// Casts a vote; false when this reviewer already voted on the request.
pub async fn cast_vote(
    tx: &mut PgConnection,
    request_id: i64,
    reviewer_id: i64,
    choice: VoteChoice,
    rationale: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into request_votes (request_id, reviewer_id, choice, rationale) values ($1, $2, $3, $4)
         on conflict do nothing",
    )
    .bind(request_id)
    .bind(reviewer_id)
    .bind(choice)
    .bind(rationale)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The request's events, oldest first; internal ones only when `internal` is true.
pub async fn timeline(
    db: impl PgExecutor<'_>,
    request_id: i64,
    internal: bool,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "select e.id, e.kind, e.internal, e.body, u.name as actor_name, e.created_at
         from events e left join users u on u.id = e.actor_id
         where (e.request_id = $1 or e.grant_id in (select id from grants where request_id = $1))
           and ($2 or not e.internal)
         order by e.id",
    )
    .bind(request_id)
    .bind(internal)
    .fetch_all(db)
    .await
}

/// Creates the grant for one dataset of an approved request.
pub async fn create_grant(
    tx: &mut PgConnection,
    request_id: i64,
    user_id: i64,
    dataset: &RequestDataset,
) -> sqlx::Result<(i64, OffsetDateTime)> {
    sqlx::query_as(
        "insert into grants (user_id, dataset_id, request_id, dua_version_id, expires_at)
         values ($1, $2, $3, $4, now() + make_interval(days => $5))
         returning id, expires_at",
    )
    .bind(user_id)
    .bind(dataset.dataset_id)
    .bind(request_id)
    .bind(dataset.dua_version_id)
    .bind(dataset.grant_days)
    .fetch_one(&mut *tx)
    .await
}

const GRANT: &str = "select g.id, g.user_id, u.name as holder_name, u.email::text as holder_email, g.dataset_id,
        d.slug, d.title, d.access_instructions, g.request_id, r.dac_id, g.dua_version_id, g.starts_at,
        g.expires_at, g.revoked_at, g.revoke_reason, g.reaccept_by, g.suspended_at
     from grants g
     join users u on u.id = g.user_id
     join datasets d on d.id = g.dataset_id
     join access_requests r on r.id = g.request_id";

pub async fn grants_of(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Grant>> {
    sqlx::query_as(&format!(
        "{GRANT} where g.user_id = $1 order by g.expires_at desc, g.id desc"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn grants_of_request(
    db: impl PgExecutor<'_>,
    request_id: i64,
) -> sqlx::Result<Vec<Grant>> {
    sqlx::query_as(&format!("{GRANT} where g.request_id = $1 order by d.title"))
        .bind(request_id)
        .fetch_all(db)
        .await
}

pub async fn find_grant(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Grant>> {
    sqlx::query_as(&format!("{GRANT} where g.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Revokes a grant that is not revoked yet; false when it already was.
pub async fn revoke_grant(
    tx: &mut PgConnection,
    id: i64,
    by: i64,
    reason: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update grants set revoked_at = now(), revoked_by = $2, revoke_reason = $3
         where id = $1 and revoked_at is null",
    )
    .bind(id)
    .bind(by)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the holder's acceptance of the agreement version now in force, lifting a suspension.
pub async fn reaccept_grant(
    tx: &mut PgConnection,
    id: i64,
    dua_version_id: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update grants set dua_version_id = $2, reaccept_by = null, suspended_at = null
         where id = $1 and revoked_at is null and expires_at > now() and reaccept_by is not null",
    )
    .bind(id)
    .bind(dua_version_id)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One row of the entitlements API.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Entitlement {
    pub grant_id: i64,
    pub dataset: String,
    pub user_email: String,
    pub user_name: String,
    pub orcid: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub request_id: i64,
}

/// Who may use which dataset now: grants neither expired, revoked nor suspended.
pub async fn entitlements(
    db: impl PgExecutor<'_>,
    dataset: Option<&str>,
) -> sqlx::Result<Vec<Entitlement>> {
    sqlx::query_as(
        "select g.id as grant_id, d.slug as dataset, u.email::text as user_email, u.name as user_name,
                u.orcid, g.starts_at, g.expires_at, g.request_id
         from grants g join datasets d on d.id = g.dataset_id join users u on u.id = g.user_id
         where g.revoked_at is null and g.suspended_at is null and g.expires_at > now()
           and u.disabled_at is null and u.closed_at is null
           and ($1::text is null or d.slug = $1)
         order by d.slug, u.email",
    )
    .bind(dataset)
    .fetch_all(db)
    .await
}

/// Adds an in-app notification.
pub async fn notify(
    db: impl PgExecutor<'_>,
    user_id: i64,
    text: &str,
    link: &str,
) -> sqlx::Result<()> {
    sqlx::query("insert into notifications (user_id, text, link) values ($1, $2, $3)")
        .bind(user_id)
        .bind(text)
        .bind(link)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn notifications(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<Notification>> {
    sqlx::query_as(
        "select id, text, link, created_at, read_at from notifications where user_id = $1
         order by created_at desc, id desc limit 200",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn mark_notifications_read(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query("update notifications set read_at = now() where user_id = $1 and read_at is null")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Grants due for an expiry record, a reminder, or a suspension, each claimed once.
pub mod jobs {
    use sqlx::PgConnection;

    /// Grants that passed their expiry and have no expiry event yet: (grant id, request id).
    pub async fn claim_expired(tx: &mut PgConnection) -> sqlx::Result<Vec<(i64, i64)>> {
        sqlx::query_as(
            "update grants set expiry_recorded_at = now()
             where id in (select id from grants where expires_at <= now() and revoked_at is null
                          and expiry_recorded_at is null for update skip locked)
             returning id, request_id",
        )
        .fetch_all(&mut *tx)
        .await
    }

    /// Grants expiring within `days` days that have not had this reminder: (grant id, request id).
    pub async fn claim_reminders(
        tx: &mut PgConnection,
        days: i32,
    ) -> sqlx::Result<Vec<(i64, i64)>> {
        // A grant that gets the 7-day reminder no longer needs the 30-day one.
        let (column, also) = if days <= 7 {
            (
                "reminded_7_at",
                "reminded_30_at = coalesce(reminded_30_at, now()),",
            )
        } else {
            ("reminded_30_at", "")
        };
        sqlx::query_as(&format!(
            "update grants set {also} {column} = now()
             where id in (select id from grants
                          where revoked_at is null and expires_at > now()
                            and expires_at <= now() + make_interval(days => $1)
                            and {column} is null for update skip locked)
             returning id, request_id"
        ))
        .bind(days)
        .fetch_all(&mut *tx)
        .await
    }

    /// Grants whose holder did not accept a new agreement in time: (grant id, request id).
    pub async fn claim_suspensions(tx: &mut PgConnection) -> sqlx::Result<Vec<(i64, i64)>> {
        sqlx::query_as(
            "update grants set suspended_at = now()
             where id in (select id from grants where reaccept_by <= now() and suspended_at is null
                          and revoked_at is null and expires_at > now() for update skip locked)
             returning id, request_id",
        )
        .fetch_all(&mut *tx)
        .await
    }
}

/// Administration of committees, agreements and governance.
pub mod admin {
    use sqlx::{PgConnection, PgExecutor};
    use time::Date;

    use super::super::model::{Dac, DacPolicy};

    /// A committee with its number of members and governed datasets.
    #[derive(Clone, Debug, sqlx::FromRow)]
    pub struct DacRow {
        #[sqlx(flatten)]
        pub dac: Dac,
        pub members: i64,
        pub datasets: i64,
    }

    pub async fn dacs(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<DacRow>> {
        sqlx::query_as(
            "select d.id, d.slug, d.name, d.description, d.policy, d.required_votes,
                    (select count(*) from dac_members m where m.dac_id = d.id) as members,
                    (select count(*) from dataset_governance g where g.dac_id = d.id) as datasets
             from dacs d order by d.name",
        )
        .fetch_all(db)
        .await
    }

    /// The committee's fields as saved.
    pub struct DacInput<'a> {
        pub slug: &'a str,
        pub name: &'a str,
        pub description: &'a str,
        pub policy: DacPolicy,
        pub required_votes: i32,
    }

    /// Creates a committee; `None` when the slug is taken.
    pub async fn create_dac(
        db: impl PgExecutor<'_>,
        input: &DacInput<'_>,
    ) -> sqlx::Result<Option<i64>> {
        sqlx::query_scalar(
            "insert into dacs (slug, name, description, policy, required_votes) values ($1, $2, $3, $4, $5)
             on conflict (slug) do nothing returning id",
        )
        .bind(input.slug)
        .bind(input.name)
        .bind(input.description)
        .bind(input.policy)
        .bind(input.required_votes)
        .fetch_optional(db)
        .await
    }

    pub async fn update_dac(
        db: impl PgExecutor<'_>,
        id: i64,
        input: &DacInput<'_>,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "update dacs set name = $2, description = $3, policy = $4, required_votes = $5 where id = $1",
        )
        .bind(id)
        .bind(input.name)
        .bind(input.description)
        .bind(input.policy)
        .bind(input.required_votes)
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Members of a committee: (user id, name, e-mail).
    pub async fn members(
        db: impl PgExecutor<'_>,
        dac_id: i64,
    ) -> sqlx::Result<Vec<(i64, String, String)>> {
        sqlx::query_as(
            "select u.id, u.name, u.email::text from dac_members m join users u on u.id = m.user_id
             where m.dac_id = $1 order by u.name",
        )
        .bind(dac_id)
        .fetch_all(db)
        .await
    }

    /// Adds the open account with this address; its id, or `None` when there is no such account.
    pub async fn add_member(
        db: &mut PgConnection,
        dac_id: i64,
        email: &str,
    ) -> sqlx::Result<Option<i64>> {
        let user: Option<i64> = sqlx::query_scalar(
            "select id from users where email = $1::citext and closed_at is null and disabled_at is null",
        )
        .bind(email)
        .fetch_optional(&mut *db)
        .await?;
        if let Some(user_id) = user {
            sqlx::query(
                "insert into dac_members (dac_id, user_id) values ($1, $2) on conflict do nothing",
            )
            .bind(dac_id)
            .bind(user_id)
            .execute(&mut *db)
            .await?;
        }
        Ok(user)
    }

    pub async fn remove_member(
        db: impl PgExecutor<'_>,
        dac_id: i64,
        user_id: i64,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query("delete from dac_members where dac_id = $1 and user_id = $2")
            .bind(dac_id)
            .bind(user_id)
            .execute(db)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Datasets a committee governs: (slug, title, agreement title, default days).
    pub async fn governed_by(
        db: impl PgExecutor<'_>,
        dac_id: i64,
    ) -> sqlx::Result<Vec<(String, String, String, i32)>> {
        sqlx::query_as(
            "select d.slug, d.title, a.title, g.default_grant_days from dataset_governance g
             join datasets d on d.id = g.dataset_id join duas a on a.id = g.dua_id
             where g.dac_id = $1 order by d.title",
        )
        .bind(dac_id)
        .fetch_all(db)
        .await
    }

    /// Agreements with their newest version number: (id, slug, title, newest version).
    pub async fn duas(
        db: impl PgExecutor<'_>,
    ) -> sqlx::Result<Vec<(i64, String, String, Option<i32>)>> {
        sqlx::query_as(
            "select a.id, a.slug, a.title, (select max(version) from dua_versions v where v.dua_id = a.id)
             from duas a order by a.title",
        )
        .fetch_all(db)
        .await
    }

    /// Creates an agreement (without versions); `None` when the slug is taken.
    pub async fn create_dua(
        db: impl PgExecutor<'_>,
        slug: &str,
        title: &str,
    ) -> sqlx::Result<Option<i64>> {
        sqlx::query_scalar("insert into duas (slug, title) values ($1, $2) on conflict (slug) do nothing returning id")
            .bind(slug)
            .bind(title)
            .fetch_optional(db)
            .await
    }

    /// Sets who governs a controlled dataset. False when no published or draft controlled dataset has
    /// this slug.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_governance(
        db: impl PgExecutor<'_>,
        slug: &str,
        dac_id: i64,
        dua_id: i64,
        days: i32,
        required_credentials: &[String],
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "insert into dataset_governance (dataset_id, dac_id, dua_id, default_grant_days, required_credentials)
             select id, $2, $3, $4, $5 from datasets where slug = $1 and access_level = 'controlled'
             on conflict (dataset_id) do update
                 set dac_id = excluded.dac_id, dua_id = excluded.dua_id,
                     default_grant_days = excluded.default_grant_days,
                     required_credentials = excluded.required_credentials",
        )
        .bind(slug)
        .bind(dac_id)
        .bind(dua_id)
        .bind(days)
        .bind(required_credentials)
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether a date is a sensible effective date for a new version (not in the past).
    pub fn effective_date_ok(date: Date, today: Date) -> bool {
        date >= today
    }
}

/// Grants matching `text` (holder name or e-mail, dataset title or id), newest first.
pub async fn search_grants(
    db: impl PgExecutor<'_>,
    text: &str,
    live_only: bool,
) -> sqlx::Result<Vec<Grant>> {
    let pattern = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_as(&format!(
        "{GRANT}
         where ($1 = '%%' or u.name ilike $1 or u.email::text ilike $1 or d.title ilike $1 or d.slug ilike $1)
           and (not $2 or (g.revoked_at is null and g.expires_at > now()))
         order by g.starts_at desc, g.id desc limit 500"
    ))
    .bind(pattern)
    .bind(live_only)
    .fetch_all(db)
    .await
}
