//! SQL of organizations: the publishers datasets belong to.

use sqlx::PgExecutor;

use crate::catalog::model::{Organization, OrganizationInput, OrganizationRef};

/// Organizations with their number of published datasets, by name.
pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Organization>> {
    sqlx::query_as!(
        Organization,
        r#"select o.id, o.slug, o.name, o.homepage, o.description,
                count(d.id) filter (where d.status = 'published') as "dataset_count!"
         from organizations o left join datasets d on d.organization_id = o.id
         group by o.id
         order by count(d.id) filter (where d.status = 'published') desc, lower(o.name)"#
    )
    .fetch_all(db)
    .await
}

/// An organization by slug, with its number of published datasets.
pub async fn find(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<Organization>> {
    if slug.contains('\0') {
        return Ok(None);
    }
    sqlx::query_as!(
        Organization,
        r#"select o.id, o.slug, o.name, o.homepage, o.description,
                count(d.id) filter (where d.status = 'published') as "dataset_count!"
         from organizations o left join datasets d on d.organization_id = o.id
         where o.slug = $1 group by o.id"#,
        slug,
    )
    .fetch_optional(db)
    .await
}

/// The id of the organization with this slug.
pub async fn id_by_slug(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!("select id from organizations where slug = $1", slug)
        .fetch_optional(db)
        .await
}

/// The (slug, id) of each organization among `slugs`.
pub async fn ids_by_slugs(
    db: impl PgExecutor<'_>,
    slugs: &[String],
) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        "select slug, id from organizations where slug = any($1)",
        slugs
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|row| (row.slug, row.id)).collect())
}

/// Creates the organizations whose slug is free, in the order given; returns the (slug, id) of each
/// one created. A slug another transaction takes first is left out, once that transaction has
/// committed.
pub async fn insert_missing(
    db: impl PgExecutor<'_>,
    organizations: &[&OrganizationRef],
) -> sqlx::Result<Vec<(String, i64)>> {
    let slugs: Vec<&str> = organizations.iter().map(|o| o.slug.as_str()).collect();
    let names: Vec<&str> = organizations.iter().map(|o| o.name.as_str()).collect();
    let homepages: Vec<Option<&str>> = organizations
        .iter()
        .map(|o| o.homepage.as_deref())
        .collect();
    let rows = sqlx::query!(
        "insert into organizations (slug, name, homepage)
         select * from unnest($1::text[], $2::text[], $3::text[])
         on conflict (slug) do nothing
         returning slug, id",
        &slugs as _,
        &names as _,
        &homepages as _,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|row| (row.slug, row.id)).collect())
}

/// Adds an organization; `None` when the slug is taken.
pub async fn insert(
    db: impl PgExecutor<'_>,
    organization: &OrganizationInput,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "insert into organizations (slug, name, homepage, description) values ($1, $2, $3, $4)
         on conflict (slug) do nothing returning id",
        organization.slug,
        organization.name,
        organization.homepage,
        organization.description,
    )
    .fetch_optional(db)
    .await
}

/// Changes an organization's name, homepage and description (its slug is its identity and stays);
/// `false` when there is no organization `id`.
pub async fn update(
    db: impl PgExecutor<'_>,
    id: i64,
    organization: &OrganizationInput,
) -> sqlx::Result<bool> {
    let updated = sqlx::query!(
        "update organizations set name = $2, homepage = $3, description = $4 where id = $1",
        id,
        organization.name,
        organization.homepage,
        organization.description,
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() > 0)
}
