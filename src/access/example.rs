//! Example data for a first walk-through on a fresh install: three institutional controlled datasets
//! marked as examples, two committees, one agreement and three example accounts. Created once, when the
//! portal has no committee yet; off with `RADPORTAL_EXAMPLE_DATA=false`.

use serde_json::json;
use sqlx::PgPool;

use crate::catalog::import::{self, NoProgress};

/// The example accounts' password (documented in the README; example data is for trying the portal).
pub const EXAMPLE_PASSWORD: &str = "example-walkthrough-2026";

/// The example accounts: (e-mail, name).
pub const EXAMPLE_ACCOUNTS: [(&str, &str); 3] = [
    ("researcher@example.org", "Riley Researcher"),
    ("reviewer@example.org", "Rowan Reviewer"),
    ("reviewer2@example.org", "Casey Committee"),
];

const DUA_BODY: &str = "# Institutional Imaging Data Use Agreement\n\n\
This is an example agreement for trying the portal.\n\n\
1. Use the data only for the research described in the approved project.\n\
2. Do not try to identify any person in the data.\n\
3. Keep the data on systems that meet the project's data security plan.\n\
4. Do not share the data with anyone outside the approved team.\n\
5. Cite the dataset in publications and report them to the committee.\n\
6. Delete the data when access ends, and confirm the deletion on request.\n";

/// Creates the example data unless a committee already exists. Returns whether it did.
pub async fn seed_if_empty(pool: &PgPool) -> anyhow::Result<bool> {
    const LOCK: i64 = 0x7261_6470_6f72_7402;
    // A transaction's lock, released when it ends: a pooler in transaction mode keeps no session.
    let mut turn = pool.begin().await?;
    sqlx::query!("select from pg_advisory_xact_lock($1)", LOCK)
        .execute(&mut *turn)
        .await?;
    let created = seed(pool).await?;
    turn.commit().await?;
    Ok(created)
}

async fn seed(pool: &PgPool) -> anyhow::Result<bool> {
    let has_dac = sqlx::query_scalar!(r#"select exists (select 1 from dacs) as "exists!""#)
        .fetch_one(pool)
        .await?;
    if has_dac {
        return Ok(false);
    }
    let records = json!([
        {
            "id": "example-chest-ct-research-extract",
            "name": "Example: Chest CT research extract",
            "record_type": "institutional",
            "url": "https://example.org/radportal/example-chest-ct",
            "publisher_host": "Example University Hospital",
            "modalities": ["CT"], "body_parts": ["chest", "lung"],
            "tasks_annotations": ["detection", "segmentation"],
            "subjects_count": 1200, "studies_count": 1850,
            "access": "controlled", "cancer_type": "Lung cancer", "species": "Human"
        },
        {
            "id": "example-brain-mri-registry",
            "name": "Example: Brain MRI registry",
            "record_type": "institutional",
            "url": "https://example.org/radportal/example-brain-mri",
            "publisher_host": "Example University Hospital",
            "modalities": ["MR"], "body_parts": ["brain"],
            "tasks_annotations": ["segmentation", "classification"],
            "subjects_count": 640,
            "access": "controlled", "cancer_type": "Glioma", "species": "Human"
        },
        {
            "id": "example-mammography-screening-cohort",
            "name": "Example: Mammography screening cohort",
            "record_type": "institutional",
            "url": "https://example.org/radportal/example-mammography",
            "publisher_host": "Example University Hospital",
            "modalities": ["MG"], "body_parts": ["breast"],
            "tasks_annotations": ["classification", "detection"],
            "subjects_count": 5300,
            "access": "controlled", "cancer_type": "Breast cancer", "species": "Human"
        }
    ]);
    import::import_json(pool, records.to_string().as_bytes(), &NoProgress).await?;

    let mut tx = pool.begin().await?;
    sqlx::query!(
        "update datasets set
             description = 'An **example** dataset created for a first walk-through of the portal. It holds no data. '
                 || 'Administrators can turn example data off with `RADPORTAL_EXAMPLE_DATA=false` before the first start.',
             access_instructions = 'After approval, the research data office sends you an account on the research PACS '
                 || 'extract server within two working days. Quote your request number.',
             data_use_limitations = case slug
                 when 'example-chest-ct-research-extract' then array['DUO:0000006', 'DUO:0000046', 'DUO:0000019']
                 when 'example-brain-mri-registry' then array['DUO:0000006', 'DUO:0000021']
                 else array['DUO:0000042', 'DUO:0000019'] end,
             deidentification = 'DICOM PS3.15 Annex E basic profile with retained longitudinal dates',
             contains_phi = false
         where slug like 'example-%'"
    )
    .execute(&mut *tx)
    .await?;
    let thoracic = sqlx::query_scalar!(
        "insert into dacs (slug, name, description, contact_email)
         values ('thoracic-imaging-dac', 'Thoracic Imaging Data Access Committee (example)',
                 'Reviews requests for the example chest imaging data.', 'thoracic-dac@example.org')
         returning id"
    )
    .fetch_one(&mut *tx)
    .await?;
    let neuro = sqlx::query_scalar!(
        "insert into dacs (slug, name, description, contact_email)
         values ('neuro-breast-imaging-dac', 'Neuro and Breast Imaging Data Access Committee (example)',
                 'Reviews requests for the example brain and breast imaging data.', 'neuro-dac@example.org')
         returning id"
    )
    .fetch_one(&mut *tx)
    .await?;
    let dua = sqlx::query_scalar!(
        "insert into duas (slug, title)
         values ('institutional-imaging-dua', 'Institutional Imaging Data Use Agreement')
         returning id"
    )
    .fetch_one(&mut *tx)
    .await?;
    super::db::publish_dua_version(
        &mut tx,
        dua,
        DUA_BODY,
        time::macros::date!(2026 - 01 - 01),
        None,
        super::governance::DEFAULT_GRACE_DAYS,
    )
    .await?;
    sqlx::query!(
        "insert into dataset_governance (dataset_id, dac_id, dua_id, default_grant_days)
         select id, case when slug = 'example-chest-ct-research-extract' then $1::bigint else $2::bigint end,
                $3, $4
         from datasets where slug like 'example-%'",
        thoracic,
        neuro,
        dua,
        super::workflow::DEFAULT_ACCESS_DAYS
    )
    .execute(&mut *tx)
    .await?;
    let hash = crate::auth::password::hash(EXAMPLE_PASSWORD.to_owned()).await?;
    for (email, name) in EXAMPLE_ACCOUNTS {
        sqlx::query!(
            "insert into users (email, name, institution, password_hash, email_verified_at)
             values ($1, $2, 'Example University Hospital', $3, now()) on conflict (email) do nothing",
            email as _,
            name,
            hash
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "insert into dac_members (dac_id, user_id)
         select d.id, u.id from dacs d, users u
         where (u.email = 'reviewer@example.org')
            or (u.email = 'reviewer2@example.org' and d.slug = 'neuro-breast-imaging-dac')
         on conflict do nothing"
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}
