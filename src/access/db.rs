//! All SQL of the access workflow: governance, agreements, projects, the cart, requests, votes, grants,
//! timelines and notifications. Every statement is checked against the schema when the crate compiles
//! (`query!` and friends; `.sqlx/` holds the result for offline builds). Which grants count as current
//! or active is defined once, by the `current_grants` and `active_grants` views (migration 0016).

use sqlx::{PgConnection, PgExecutor};
use time::{Date, OffsetDateTime};

use super::fit::Purpose;
use super::model::{
    CommitteeQueue, Dac, DacPolicy, DuaVersion, Governed, Grant, Member, Notification, Project,
    Recipient, RequestDataset, RequestSummary, Vote, VoteChoice,
};
use super::state::{RequestState, Transition};
use super::timeline::Event;

/// `query_as!` for [`Governed`]: who governs which dataset, followed by the rest of the statement.
macro_rules! select_governed {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Governed,
            "select d.id as dataset_id, d.slug, d.title, d.data_use_limitations, d.conditions,
                d.access_instructions, g.dac_id, c.name as dac_name, g.dua_id, a.slug as dua_slug,
                a.title as dua_title, g.default_grant_days, g.required_credentials
             from dataset_governance g
             join datasets d on d.id = g.dataset_id
             join dacs c on c.id = g.dac_id
             join duas a on a.id = g.dua_id "
                + $rest
            $(, $arg)*
        )
    };
}

/// `query_as!` for [`DuaVersion`], followed by the rest of the statement.
macro_rules! select_dua_versions {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            DuaVersion,
            "select v.id, v.dua_id, a.slug as dua_slug, a.title as dua_title, v.version,
                v.body, v.content_hash, v.effective_on, v.published_at
             from dua_versions v join duas a on a.id = v.dua_id "
                + $rest
            $(, $arg)*
        )
    };
}

/// `query_as!` for [`Project`], followed by the rest of the statement.
macro_rules! select_projects {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Project,
            r#"select id, owner_id, title, research_use, purpose as "purpose: Purpose", diseases,
                methods_development, commercial, for_profit, genetic, clinical_care, country, pi_name,
                institution, irb_number, irb_body, irb_expires_on, security_plan, created_at, updated_at
             from projects "#
                + $rest
            $(, $arg)*
        )
    };
}

/// `query_as!` for [`RequestSummary`], followed by the rest of the statement (`r` is the request).
macro_rules! select_requests {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            RequestSummary,
            r#"select r.id, r.state as "state: RequestState", r.version, r.project_id,
                p.title as project_title, r.applicant_id, u.name as applicant_name,
                u.email::text as "applicant_email!", r.dac_id, c.name as dac_name, r.requested_days,
                r.renewal_of, r.submitted_at, r.decided_at, dby.name as "decided_by_name?",
                r.decision_rationale, r.created_at, r.updated_at,
                coalesce((select array_agg(d.title order by d.title) from request_datasets rd
                          join datasets d on d.id = rd.dataset_id where rd.request_id = r.id),
                         '{}') as "dataset_titles!"
             from access_requests r
             join projects p on p.id = r.project_id
             join users u on u.id = r.applicant_id
             join dacs c on c.id = r.dac_id
             left join users dby on dby.id = r.decided_by "#
                + $rest
            $(, $arg)*
        )
    };
}

/// `query_as!` for [`Grant`], followed by the rest of the statement (`g` is the grant).
macro_rules! select_grants {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Grant,
            r#"select g.id, g.user_id, u.name as holder_name, u.email::text as "holder_email!",
                g.dataset_id, d.slug, d.title, d.access_instructions, g.request_id, r.dac_id,
                g.dua_version_id, g.starts_at, g.expires_at, g.revoked_at, g.revoke_reason,
                g.reaccept_by, g.suspended_at
             from grants g
             join users u on u.id = g.user_id
             join datasets d on d.id = g.dataset_id
             join access_requests r on r.id = g.request_id "#
                + $rest
            $(, $arg)*
        )
    };
}

/// The governance of a published controlled dataset, by slug.
pub async fn governed(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<Governed>> {
    select_governed!(
        "where d.slug = $1 and d.status = 'published' and d.access_level = 'controlled'",
        slug
    )
    .fetch_optional(db)
    .await
}

/// The governed datasets in a researcher's cart, grouped by committee.
pub async fn cart(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Governed>> {
    select_governed!(
        "join cart_items i on i.dataset_id = d.id
         where i.user_id = $1 and d.status = 'published' and d.access_level = 'controlled'
         order by c.name, d.title",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Puts a dataset in a researcher's cart (once).
pub async fn add_to_cart(
    db: impl PgExecutor<'_>,
    user_id: i64,
    dataset_id: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into cart_items (user_id, dataset_id) values ($1, $2) on conflict do nothing",
        user_id,
        dataset_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Puts every dataset of a request in a researcher's cart (for a renewal).
pub async fn add_request_to_cart(
    db: impl PgExecutor<'_>,
    user_id: i64,
    request_id: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into cart_items (user_id, dataset_id)
         select $1, dataset_id from request_datasets where request_id = $2
         on conflict do nothing",
        user_id,
        request_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Locks the applicant's cart rows for these datasets until the transaction ends and returns the
/// datasets still in the cart. A submission that arrives while another is running waits here, then
/// finds the rows gone.
pub async fn lock_cart(
    conn: &mut PgConnection,
    user_id: i64,
    dataset_ids: &[i64],
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "select dataset_id from cart_items where user_id = $1 and dataset_id = any($2)
         order by dataset_id
         for update",
        user_id,
        dataset_ids
    )
    .fetch_all(conn)
    .await
}

/// Takes datasets out of a researcher's cart.
pub async fn remove_from_cart(
    db: impl PgExecutor<'_>,
    user_id: i64,
    dataset_ids: &[i64],
) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from cart_items where user_id = $1 and dataset_id = any($2)",
        user_id,
        dataset_ids
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The version of an agreement in force today: the newest one already effective.
pub async fn dua_in_force(
    db: impl PgExecutor<'_>,
    dua_id: i64,
) -> sqlx::Result<Option<DuaVersion>> {
    select_dua_versions!(
        "where v.dua_id = $1 and v.effective_on <= current_date order by v.version desc limit 1",
        dua_id
    )
    .fetch_optional(db)
    .await
}

/// Every version of an agreement, newest first.
pub async fn dua_versions(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Vec<DuaVersion>> {
    select_dua_versions!("where a.slug = $1 order by v.version desc", slug)
        .fetch_all(db)
        .await
}

/// The identifier of an agreement, by id.
pub async fn dua_slug(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select slug from duas where id = $1", id)
        .fetch_optional(db)
        .await
}

/// The agreement a dataset is governed under, if it is governed.
pub async fn governing_dua(db: impl PgExecutor<'_>, dataset_id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select dua_id from dataset_governance where dataset_id = $1",
        dataset_id
    )
    .fetch_optional(db)
    .await
}

/// Publishes a new version of an agreement and marks the active grants under it "re-acceptance
/// required", with `grace_days` to accept. Returns the new version number. Two writes: run it inside
/// the caller's transaction.
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
    // Versions are numbered in order: two publications at once take turns on the agreement's row.
    sqlx::query!("select id from duas where id = $1 for update", dua_id)
        .fetch_optional(&mut *tx)
        .await?;
    let version = sqlx::query_scalar!(
        "insert into dua_versions (dua_id, version, body, content_hash, effective_on, published_by)
         select $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5 from dua_versions where dua_id = $1
         returning version",
        dua_id,
        body,
        hash,
        effective_on,
        published_by
    )
    .fetch_one(&mut *tx)
    .await?;
    if version > 1 {
        sqlx::query!(
            "update grants g
             set reaccept_by = greatest(now(), $2::date::timestamptz) + make_interval(days => $3)
             from dataset_governance gov
             where gov.dataset_id = g.dataset_id and gov.dua_id = $1 and g.reaccept_by is null
               and g.id in (select id from active_grants)",
            dua_id,
            effective_on,
            grace_days
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(version)
}

/// A committee, by id.
pub async fn find_dac(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Dac>> {
    sqlx::query_as!(
        Dac,
        r#"select id, slug, name, description, policy as "policy: DacPolicy", required_votes
           from dacs where id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// The committees `user_id` sits on.
pub async fn dacs_of(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Dac>> {
    sqlx::query_as!(
        Dac,
        r#"select d.id, d.slug, d.name, d.description, d.policy as "policy: DacPolicy",
                  d.required_votes
           from dacs d join dac_members m on m.dac_id = d.id where m.user_id = $1 order by d.name"#,
        user_id
    )
    .fetch_all(db)
    .await
}

/// A committee's active members, for notifications.
pub async fn dac_members(db: impl PgExecutor<'_>, dac_id: i64) -> sqlx::Result<Vec<Recipient>> {
    sqlx::query_as!(
        Recipient,
        r#"select u.id as user_id, u.email::text as "email!"
           from dac_members m join users u on u.id = m.user_id
           where m.dac_id = $1 and u.disabled_at is null and u.closed_at is null order by u.id"#,
        dac_id
    )
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
    sqlx::query_scalar!(
        r#"select exists (select 1 from access_requests r join dac_members m on m.dac_id = r.dac_id
                          where m.user_id = $1 and r.applicant_id = $2 and r.state <> 'draft')
           as "reviews!""#,
        reviewer_id,
        applicant_id
    )
    .fetch_one(db)
    .await
}

/// Whether `user_id` sits on committee `dac_id`.
pub async fn is_dac_member(
    db: impl PgExecutor<'_>,
    user_id: i64,
    dac_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from dac_members where user_id = $1 and dac_id = $2)
           as "member!""#,
        user_id,
        dac_id
    )
    .fetch_one(db)
    .await
}

/// The projects `owner_id` owns, most recently changed first.
pub async fn projects_of(db: impl PgExecutor<'_>, owner_id: i64) -> sqlx::Result<Vec<Project>> {
    select_projects!(
        "where owner_id = $1 order by updated_at desc, id desc",
        owner_id
    )
    .fetch_all(db)
    .await
}

/// A project, by id.
pub async fn find_project(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Project>> {
    select_projects!("where id = $1", id)
        .fetch_optional(db)
        .await
}

/// A project's fields as saved.
pub struct ProjectInput {
    pub title: String,
    pub research_use: String,
    pub purpose: Purpose,
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
    /// The team's e-mail addresses, lower-case.
    pub members: Vec<String>,
}

/// Creates a project of `owner_id` (without its team); its id.
pub async fn insert_project(
    db: impl PgExecutor<'_>,
    owner_id: i64,
    input: &ProjectInput,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into projects (owner_id, title, research_use, purpose, diseases, methods_development,
             commercial, for_profit, genetic, clinical_care, country, pi_name, institution, irb_number,
             irb_body, irb_expires_on, security_plan)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         returning id",
        owner_id,
        input.title,
        input.research_use,
        input.purpose.code(),
        &input.diseases,
        input.methods_development,
        input.commercial,
        input.for_profit,
        input.genetic,
        input.clinical_care,
        input.country,
        input.pi_name,
        input.institution,
        input.irb_number,
        input.irb_body,
        input.irb_expires_on,
        input.security_plan
    )
    .fetch_one(db)
    .await
}

/// Updates project `id` of `owner_id` (not its team); false when the project is not the owner's.
pub async fn update_project(
    db: impl PgExecutor<'_>,
    owner_id: i64,
    id: i64,
    input: &ProjectInput,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update projects set title = $3, research_use = $4, purpose = $5, diseases = $6,
             methods_development = $7, commercial = $8, for_profit = $9, genetic = $10,
             clinical_care = $11, country = $12, pi_name = $13, institution = $14, irb_number = $15,
             irb_body = $16, irb_expires_on = $17, security_plan = $18
         where id = $2 and owner_id = $1",
        owner_id,
        id,
        input.title,
        input.research_use,
        input.purpose.code(),
        &input.diseases,
        input.methods_development,
        input.commercial,
        input.for_profit,
        input.genetic,
        input.clinical_care,
        input.country,
        input.pi_name,
        input.institution,
        input.irb_number,
        input.irb_body,
        input.irb_expires_on,
        input.security_plan
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a project's team with `emails`, linking each to its open account if there is one. Two
/// writes: run it inside the caller's transaction.
pub async fn replace_members(
    tx: &mut PgConnection,
    project_id: i64,
    emails: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from project_members where project_id = $1",
        project_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into project_members (project_id, email, user_id)
         select $1, e, (select id from users where email = e::citext and closed_at is null)
         from unnest($2::text[]) as e
         on conflict do nothing",
        project_id,
        emails
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A project's team, by address.
pub async fn members(db: impl PgExecutor<'_>, project_id: i64) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as!(
        Member,
        r#"select m.email::text as "email!", u.id as "user_id?", u.name as "name?"
           from project_members m left join users u on u.email = m.email and u.closed_at is null
           where m.project_id = $1 order by m.email"#,
        project_id
    )
    .fetch_all(db)
    .await
}

/// Whether `user_id` is the project's owner or on its team (by account or address).
pub async fn is_on_team(
    db: impl PgExecutor<'_>,
    project_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from projects where id = $1 and owner_id = $2)
               or exists (select 1 from project_members m join users u on u.id = $2
                          where m.project_id = $1 and (m.user_id = $2 or m.email = u.email))
           as "on_team!""#,
        project_id,
        user_id
    )
    .fetch_one(db)
    .await
}

/// The open request of `user_id` that already asks for `dataset_id`, if any.
pub async fn open_request_for(
    db: impl PgExecutor<'_>,
    user_id: i64,
    dataset_id: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select r.id from access_requests r join request_datasets d on d.request_id = r.id
         where r.applicant_id = $1 and d.dataset_id = $2
           and r.state in ('draft', 'submitted', 'in_review', 'changes_requested')
         order by r.id limit 1",
        user_id,
        dataset_id
    )
    .fetch_optional(db)
    .await
}

/// What a new request is for.
pub struct NewRequest {
    pub project_id: i64,
    pub applicant_id: i64,
    pub dac_id: i64,
    pub requested_days: i32,
    /// The request this one renews.
    pub renewal_of: Option<i64>,
}

/// A new request that has made `step` out of draft (the cart submits requests straight away).
pub async fn create_request(
    db: impl PgExecutor<'_>,
    request: &NewRequest,
    step: Transition,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into access_requests (project_id, applicant_id, dac_id, requested_days, state,
             renewal_of, submitted_at)
         values ($1, $2, $3, $4, $5, $6, case when $5 = 'submitted'::request_state then now() end)
         returning id",
        request.project_id,
        request.applicant_id,
        request.dac_id,
        request.requested_days,
        step.to() as RequestState,
        request.renewal_of
    )
    .fetch_one(db)
    .await
}

/// Records the acceptance of an agreement version for one dataset of a request (replacing an earlier
/// one for the same dataset).
pub async fn accept_dua(
    db: impl PgExecutor<'_>,
    request_id: i64,
    dataset_id: i64,
    dua: &DuaVersion,
    accepted_name: &str,
    grant_days: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into request_datasets (request_id, dataset_id, dua_version_id, accepted_name, dua_hash,
             grant_days)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (request_id, dataset_id) do update
             set dua_version_id = excluded.dua_version_id, accepted_name = excluded.accepted_name,
                 dua_hash = excluded.dua_hash, accepted_at = now(), grant_days = excluded.grant_days",
        request_id,
        dataset_id,
        dua.id,
        accepted_name,
        dua.content_hash,
        grant_days
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A request, by id.
pub async fn find_request(
    db: impl PgExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<RequestSummary>> {
    select_requests!("where r.id = $1", id)
        .fetch_optional(db)
        .await
}

/// Requests where `user_id` is the applicant or on the project's team, newest first.
pub async fn requests_of(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<RequestSummary>> {
    select_requests!(
        "where r.applicant_id = $1
            or exists (select 1 from project_members m join users me on me.id = $1
                       where m.project_id = r.project_id and (m.user_id = $1 or m.email = me.email))
         order by r.created_at desc, r.id desc",
        user_id
    )
    .fetch_all(db)
    .await
}

/// The applicant's other requests, for reviewers.
pub async fn earlier_requests(
    db: impl PgExecutor<'_>,
    applicant_id: i64,
    except: i64,
) -> sqlx::Result<Vec<RequestSummary>> {
    select_requests!(
        "where r.applicant_id = $1 and r.id <> $2 order by r.created_at desc limit 50",
        applicant_id,
        except
    )
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

/// How many requests of the queue's committees are in one state.
#[derive(Clone, Debug)]
pub struct StateCount {
    pub state: RequestState,
    pub count: i64,
}

/// Requests of the committees `user_id` sits on (all committees for administrators), oldest first,
/// with counts per state.
pub async fn queue(
    db: impl PgExecutor<'_> + Copy,
    user_id: i64,
    all_committees: bool,
    filter: &QueueFilter,
) -> sqlx::Result<(Vec<RequestSummary>, Vec<StateCount>)> {
    // The filters are fixed: an absent one is a null parameter, not a different statement.
    let rows = select_requests!(
        "where ($2 or r.dac_id in (select dac_id from dac_members where user_id = $1))
           and r.state = any($3)
           and ($4::text is null
                or exists (select 1 from request_datasets rd join datasets d on d.id = rd.dataset_id
                           where rd.request_id = r.id and d.slug = $4))
           and ($5::int is null or r.submitted_at <= now() - make_interval(days => $5))
         order by r.submitted_at nulls last, r.id
         limit 500",
        user_id,
        all_committees,
        &filter.states as &[RequestState],
        filter.dataset.as_deref(),
        filter.older_than_days
    )
    .fetch_all(db)
    .await?;
    let counts = sqlx::query_as!(
        StateCount,
        r#"select r.state as "state!: RequestState", count(*) as "count!"
           from access_requests r
           where ($2 or r.dac_id in (select dac_id from dac_members where user_id = $1))
             and r.state <> 'draft'
           group by r.state order by r.state"#,
        user_id,
        all_committees
    )
    .fetch_all(db)
    .await?;
    Ok((rows, counts))
}

/// The datasets of a request with the agreement accepted for each, by title.
pub async fn request_datasets(
    db: impl PgExecutor<'_>,
    request_id: i64,
) -> sqlx::Result<Vec<RequestDataset>> {
    sqlx::query_as!(
        RequestDataset,
        "select d.id as dataset_id, d.slug, d.title, d.data_use_limitations, d.conditions,
                rd.dua_version_id, a.slug as dua_slug, a.title as dua_title, v.version as dua_version,
                rd.dua_hash, rd.accepted_name, rd.accepted_at, rd.grant_days
         from request_datasets rd
         join datasets d on d.id = rd.dataset_id
         join dua_versions v on v.id = rd.dua_version_id
         join duas a on a.id = v.dua_id
         where rd.request_id = $1 order by d.title",
        request_id
    )
    .fetch_all(db)
    .await
}

/// Makes `step` on a request seen at `version`. False when someone else changed it first.
pub async fn transition(
    db: impl PgExecutor<'_>,
    id: i64,
    version: i32,
    step: Transition,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update access_requests set state = $4, version = version + 1,
             submitted_at = case when $4 = 'submitted'::request_state then now() else submitted_at end
         where id = $1 and state = $2 and version = $3",
        id,
        step.from() as RequestState,
        version,
        step.to() as RequestState
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the decision on a request that was just moved to approved or rejected.
pub async fn record_decision(
    db: impl PgExecutor<'_>,
    id: i64,
    decided_by: i64,
    rationale: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update access_requests set decided_at = now(), decided_by = $2, decision_rationale = $3
         where id = $1",
        id,
        decided_by,
        rationale
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Sets the access period the committee grants for one dataset of a request.
pub async fn set_grant_days(
    db: impl PgExecutor<'_>,
    request_id: i64,
    dataset_id: i64,
    days: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update request_datasets set grant_days = $3 where request_id = $1 and dataset_id = $2",
        request_id,
        dataset_id,
        days
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The votes cast on a request, in order.
pub async fn votes(db: impl PgExecutor<'_>, request_id: i64) -> sqlx::Result<Vec<Vote>> {
    sqlx::query_as!(
        Vote,
        r#"select v.reviewer_id, u.name as reviewer_name, v.choice as "choice: VoteChoice",
                  v.rationale, v.cast_at
           from request_votes v join users u on u.id = v.reviewer_id
           where v.request_id = $1 order by v.cast_at"#,
        request_id
    )
    .fetch_all(db)
    .await
}

/// Casts a vote; false when this reviewer already voted on the request.
pub async fn cast_vote(
    db: impl PgExecutor<'_>,
    request_id: i64,
    reviewer_id: i64,
    choice: VoteChoice,
    rationale: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "insert into request_votes (request_id, reviewer_id, choice, rationale)
         values ($1, $2, $3, $4)
         on conflict do nothing",
        request_id,
        reviewer_id,
        choice as VoteChoice,
        rationale
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The request's events, oldest first; internal ones only when `internal` is true.
pub async fn timeline(
    db: impl PgExecutor<'_>,
    request_id: i64,
    internal: bool,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as!(
        Event,
        r#"select e.id, e.kind, e.internal, e.body, u.name as "actor_name?", e.created_at
           from events e left join users u on u.id = e.actor_id
           where (e.request_id = $1 or e.grant_id in (select id from grants where request_id = $1))
             and ($2 or not e.internal)
           order by e.id"#,
        request_id,
        internal
    )
    .fetch_all(db)
    .await
}

/// A grant just created.
#[derive(Clone, Copy, Debug)]
pub struct CreatedGrant {
    pub id: i64,
    pub expires_at: OffsetDateTime,
}

/// Creates the grant for one dataset of an approved request.
pub async fn create_grant(
    db: impl PgExecutor<'_>,
    request_id: i64,
    user_id: i64,
    dataset: &RequestDataset,
) -> sqlx::Result<CreatedGrant> {
    sqlx::query_as!(
        CreatedGrant,
        "insert into grants (user_id, dataset_id, request_id, dua_version_id, expires_at)
         values ($1, $2, $3, $4, now() + make_interval(days => $5))
         returning id, expires_at",
        user_id,
        dataset.dataset_id,
        request_id,
        dataset.dua_version_id,
        dataset.grant_days
    )
    .fetch_one(db)
    .await
}

/// A person's grants, those ending last first.
pub async fn grants_of(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<Vec<Grant>> {
    select_grants!(
        "where g.user_id = $1 order by g.expires_at desc, g.id desc",
        user_id
    )
    .fetch_all(db)
    .await
}

/// The grants an approved request created, by dataset title.
pub async fn grants_of_request(
    db: impl PgExecutor<'_>,
    request_id: i64,
) -> sqlx::Result<Vec<Grant>> {
    select_grants!("where g.request_id = $1 order by d.title", request_id)
        .fetch_all(db)
        .await
}

/// A grant, by id.
pub async fn find_grant(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Grant>> {
    select_grants!("where g.id = $1", id)
        .fetch_optional(db)
        .await
}

/// Revokes a grant that is not revoked yet; false when it already was.
pub async fn revoke_grant(
    db: impl PgExecutor<'_>,
    id: i64,
    by: i64,
    reason: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update grants set revoked_at = now(), revoked_by = $2, revoke_reason = $3
         where id = $1 and revoked_at is null",
        id,
        by,
        reason
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the holder's acceptance of the agreement version now in force, lifting a suspension.
/// False when the grant has ended or needs no acceptance.
pub async fn reaccept_grant(
    db: impl PgExecutor<'_>,
    id: i64,
    dua_version_id: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update grants set dua_version_id = $2, reaccept_by = null, suspended_at = null
         where id = $1 and reaccept_by is not null and id in (select id from current_grants)",
        id,
        dua_version_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One row of the entitlements API.
#[derive(Clone, Debug, serde::Serialize)]
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

/// Who may use which dataset now: active grants of enabled accounts.
pub async fn entitlements(
    db: impl PgExecutor<'_>,
    dataset: Option<&str>,
) -> sqlx::Result<Vec<Entitlement>> {
    sqlx::query_as!(
        Entitlement,
        r#"select g.id as "grant_id!", d.slug as dataset, u.email::text as "user_email!",
                  u.name as user_name, u.orcid, g.starts_at as "starts_at!",
                  g.expires_at as "expires_at!", g.request_id as "request_id!"
           from active_grants g
           join datasets d on d.id = g.dataset_id
           join users u on u.id = g.user_id
           where u.disabled_at is null and u.closed_at is null
             and ($1::text is null or d.slug = $1)
           order by d.slug, u.email"#,
        dataset
    )
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
    sqlx::query!(
        "insert into notifications (user_id, text, link) values ($1, $2, $3)",
        user_id,
        text,
        link
    )
    .execute(db)
    .await?;
    Ok(())
}

/// How many requests wait for each committee's decision (submitted or in review), and how many of
/// them were submitted more than `overdue_days` ago.
pub async fn waiting_by_committee(
    db: impl PgExecutor<'_>,
    overdue_days: i32,
) -> sqlx::Result<Vec<CommitteeQueue>> {
    sqlx::query_as!(
        CommitteeQueue,
        r#"select d.id, d.name,
                  count(r.id) as "waiting!",
                  count(r.id) filter (where r.submitted_at <= now() - make_interval(days => $1)) as "overdue!"
           from dacs d
           left join access_requests r on r.dac_id = d.id and r.state in ('submitted', 'in_review')
           group by d.id, d.name
           order by count(r.id) desc, d.name"#,
        overdue_days
    )
    .fetch_all(db)
    .await
}

/// A person's newest notifications.
pub async fn notifications(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Vec<Notification>> {
    sqlx::query_as!(
        Notification,
        "select id, text, link, created_at, read_at from notifications where user_id = $1
         order by created_at desc, id desc limit 200",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Marks one of a person's notifications read and returns where it points; `None` when it is not
/// theirs.
pub async fn open_notification(
    db: impl PgExecutor<'_>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update notifications set read_at = coalesce(read_at, now())
         where id = $1 and user_id = $2 returning link",
        id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Marks all of a person's notifications read.
pub async fn mark_notifications_read(db: impl PgExecutor<'_>, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update notifications set read_at = now() where user_id = $1 and read_at is null",
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Grants matching `text` (holder name or e-mail, dataset title or id), newest first; only active
/// ones when `active_only`.
pub async fn search_grants(
    db: impl PgExecutor<'_>,
    text: &str,
    active_only: bool,
) -> sqlx::Result<Vec<Grant>> {
    let pattern = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    select_grants!(
        "where ($1 = '%%' or u.name ilike $1 or u.email::text ilike $1 or d.title ilike $1
                or d.slug ilike $1)
           and (not $2 or g.id in (select id from active_grants))
         order by g.starts_at desc, g.id desc limit 500",
        pattern,
        active_only
    )
    .fetch_all(db)
    .await
}

/// Grants due for an expiry record, a reminder, or a suspension, each claimed once.
pub mod jobs {
    use sqlx::PgConnection;

    /// A grant claimed for one piece of time-driven work.
    #[derive(Clone, Copy, Debug)]
    pub struct Claimed {
        pub grant_id: i64,
        pub request_id: i64,
    }

    /// The reminders before a grant ends.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Reminder {
        ThirtyDays,
        SevenDays,
    }

    impl Reminder {
        /// Both, the nearer first: a grant that gets the 7-day reminder no longer needs the 30-day one.
        pub const ALL: [Self; 2] = [Self::SevenDays, Self::ThirtyDays];

        /// How many days before the end it is sent.
        pub fn days(self) -> i32 {
            match self {
                Self::ThirtyDays => 30,
                Self::SevenDays => 7,
            }
        }
    }

    /// Grants that passed their expiry and have no expiry event yet.
    pub async fn claim_expired(tx: &mut PgConnection) -> sqlx::Result<Vec<Claimed>> {
        sqlx::query_as!(
            Claimed,
            r#"update grants set expiry_recorded_at = now()
               where id in (select id from grants where expires_at <= now() and revoked_at is null
                            and expiry_recorded_at is null for update skip locked)
               returning id as "grant_id", request_id"#
        )
        .fetch_all(&mut *tx)
        .await
    }

    /// Current grants ending within the reminder's days that have not had it yet.
    pub async fn claim_reminders(
        tx: &mut PgConnection,
        reminder: Reminder,
    ) -> sqlx::Result<Vec<Claimed>> {
        match reminder {
            Reminder::SevenDays => {
                sqlx::query_as!(
                    Claimed,
                    r#"update grants
                       set reminded_30_at = coalesce(reminded_30_at, now()), reminded_7_at = now()
                       where id in (select id from current_grants
                                    where expires_at <= now() + make_interval(days => $1)
                                      and reminded_7_at is null for update skip locked)
                       returning id as "grant_id", request_id"#,
                    reminder.days()
                )
                .fetch_all(&mut *tx)
                .await
            }
            Reminder::ThirtyDays => {
                sqlx::query_as!(
                    Claimed,
                    r#"update grants set reminded_30_at = now()
                       where id in (select id from current_grants
                                    where expires_at <= now() + make_interval(days => $1)
                                      and reminded_30_at is null for update skip locked)
                       returning id as "grant_id", request_id"#,
                    reminder.days()
                )
                .fetch_all(&mut *tx)
                .await
            }
        }
    }

    /// Active grants whose holder did not accept a new agreement in time.
    pub async fn claim_suspensions(tx: &mut PgConnection) -> sqlx::Result<Vec<Claimed>> {
        sqlx::query_as!(
            Claimed,
            r#"update grants set suspended_at = now()
               where id in (select id from active_grants where reaccept_by <= now()
                            for update skip locked)
               returning id as "grant_id", request_id"#
        )
        .fetch_all(&mut *tx)
        .await
    }
}

/// Administration of committees, agreements and governance.
pub mod admin {
    use sqlx::{PgConnection, PgExecutor};

    use super::super::model::{Dac, DacPolicy};

    /// A committee with its number of members and governed datasets.
    #[derive(Clone, Debug)]
    pub struct DacRow {
        pub dac: Dac,
        pub members: i64,
        pub datasets: i64,
    }

    /// Every committee, by name.
    pub async fn dacs(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<DacRow>> {
        let rows = sqlx::query!(
            r#"select d.id, d.slug, d.name, d.description, d.policy as "policy: DacPolicy",
                      d.required_votes,
                      (select count(*) from dac_members m where m.dac_id = d.id) as "members!",
                      (select count(*) from dataset_governance g where g.dac_id = d.id) as "datasets!"
               from dacs d order by d.name"#
        )
        .fetch_all(db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| DacRow {
                dac: Dac {
                    id: row.id,
                    slug: row.slug,
                    name: row.name,
                    description: row.description,
                    policy: row.policy,
                    required_votes: row.required_votes,
                },
                members: row.members,
                datasets: row.datasets,
            })
            .collect())
    }

    /// A committee's fields as saved (its identifier is set once, on creation).
    pub struct DacFields<'a> {
        pub name: &'a str,
        pub description: &'a str,
        pub policy: DacPolicy,
        pub required_votes: i32,
    }

    /// Creates a committee; `None` when the slug is taken.
    pub async fn create_dac(
        db: impl PgExecutor<'_>,
        slug: &str,
        fields: &DacFields<'_>,
    ) -> sqlx::Result<Option<i64>> {
        sqlx::query_scalar!(
            "insert into dacs (slug, name, description, policy, required_votes)
             values ($1, $2, $3, $4, $5)
             on conflict (slug) do nothing returning id",
            slug,
            fields.name,
            fields.description,
            fields.policy as DacPolicy,
            fields.required_votes
        )
        .fetch_optional(db)
        .await
    }

    /// Saves a committee's fields; false when there is no such committee.
    pub async fn update_dac(
        db: impl PgExecutor<'_>,
        id: i64,
        fields: &DacFields<'_>,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query!(
            "update dacs set name = $2, description = $3, policy = $4, required_votes = $5
             where id = $1",
            id,
            fields.name,
            fields.description,
            fields.policy as DacPolicy,
            fields.required_votes
        )
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A member of a committee.
    #[derive(Clone, Debug)]
    pub struct DacMember {
        pub user_id: i64,
        pub name: String,
        pub email: String,
    }

    /// Members of a committee, by name.
    pub async fn members(db: impl PgExecutor<'_>, dac_id: i64) -> sqlx::Result<Vec<DacMember>> {
        sqlx::query_as!(
            DacMember,
            r#"select u.id as user_id, u.name, u.email::text as "email!"
               from dac_members m join users u on u.id = m.user_id
               where m.dac_id = $1 order by u.name"#,
            dac_id
        )
        .fetch_all(db)
        .await
    }

    /// Adds the open account with this address; its id, or `None` when there is no such account.
    pub async fn add_member(
        db: &mut PgConnection,
        dac_id: i64,
        email: &str,
    ) -> sqlx::Result<Option<i64>> {
        let user = sqlx::query_scalar!(
            "select id from users
             where email = $1::citext and closed_at is null and disabled_at is null",
            email
        )
        .fetch_optional(&mut *db)
        .await?;
        if let Some(user_id) = user {
            sqlx::query!(
                "insert into dac_members (dac_id, user_id) values ($1, $2) on conflict do nothing",
                dac_id,
                user_id
            )
            .execute(&mut *db)
            .await?;
        }
        Ok(user)
    }

    /// Takes a member off a committee; false when they were not on it.
    pub async fn remove_member(
        db: impl PgExecutor<'_>,
        dac_id: i64,
        user_id: i64,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query!(
            "delete from dac_members where dac_id = $1 and user_id = $2",
            dac_id,
            user_id
        )
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A dataset a committee governs.
    #[derive(Clone, Debug)]
    pub struct GovernedDataset {
        pub slug: String,
        pub title: String,
        pub dua_title: String,
        pub default_grant_days: i32,
    }

    /// Datasets a committee governs, by title.
    pub async fn governed_by(
        db: impl PgExecutor<'_>,
        dac_id: i64,
    ) -> sqlx::Result<Vec<GovernedDataset>> {
        sqlx::query_as!(
            GovernedDataset,
            "select d.slug, d.title, a.title as dua_title, g.default_grant_days
             from dataset_governance g
             join datasets d on d.id = g.dataset_id join duas a on a.id = g.dua_id
             where g.dac_id = $1 order by d.title",
            dac_id
        )
        .fetch_all(db)
        .await
    }

    /// An agreement with its newest version number.
    #[derive(Clone, Debug)]
    pub struct DuaSummary {
        pub id: i64,
        pub slug: String,
        pub title: String,
        /// `None` for an agreement without versions.
        pub newest_version: Option<i32>,
    }

    /// Every agreement, by title.
    pub async fn duas(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<DuaSummary>> {
        sqlx::query_as!(
            DuaSummary,
            "select a.id, a.slug, a.title,
                    (select max(version) from dua_versions v where v.dua_id = a.id) as newest_version
             from duas a order by a.title"
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
        sqlx::query_scalar!(
            "insert into duas (slug, title) values ($1, $2) on conflict (slug) do nothing returning id",
            slug,
            title
        )
        .fetch_optional(db)
        .await
    }

    /// Sets who governs a controlled dataset. False when no controlled dataset has this slug.
    pub async fn set_governance(
        db: impl PgExecutor<'_>,
        slug: &str,
        dac_id: i64,
        dua_id: i64,
        days: i32,
        required_credentials: &[String],
    ) -> sqlx::Result<bool> {
        let done = sqlx::query!(
            "insert into dataset_governance (dataset_id, dac_id, dua_id, default_grant_days,
                 required_credentials)
             select id, $2, $3, $4, $5 from datasets where slug = $1 and access_level = 'controlled'
             on conflict (dataset_id) do update
                 set dac_id = excluded.dac_id, dua_id = excluded.dua_id,
                     default_grant_days = excluded.default_grant_days,
                     required_credentials = excluded.required_credentials",
            slug,
            dac_id,
            dua_id,
            days,
            required_credentials
        )
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
