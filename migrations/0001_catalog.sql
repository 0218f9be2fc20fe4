-- The catalog: organizations, datasets with every fact group, revision history, and the first accounts.

create extension if not exists citext;
create extension if not exists pg_trgm;

-- Keeps updated_at honest on every table that has one.
create function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at = now();
    return new;
end
$$;

create type source_kind as enum (
    'imaging_archive', 'ehr', 'annotated_dataset', 'institutional',
    'synthetic', 'challenge', 'private_provider', 'sharing_platform'
);

create type access_level as enum ('open', 'registration', 'credentialed', 'controlled');

create type dataset_status as enum ('draft', 'published', 'retired');

create table organizations (
    id bigint generated always as identity primary key,
    slug text not null unique
        constraint organizations_slug_format check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 100),
    name text not null
        constraint organizations_name_length check (length(btrim(name)) between 1 and 200),
    homepage text
        constraint organizations_homepage_url check (homepage ~ '^https?://[^\s]+$'),
    description text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger organizations_set_updated_at before update on organizations
    for each row execute function set_updated_at();

create table users (
    id bigint generated always as identity primary key,
    email citext not null unique
        constraint users_email_format check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(email) <= 254),
    name text not null
        constraint users_name_length check (length(btrim(name)) between 1 and 200),
    institution text not null default '',
    password_hash text not null,
    is_admin boolean not null default false,
    email_verified_at timestamptz,
    disabled_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger users_set_updated_at before update on users
    for each row execute function set_updated_at();

-- Words a researcher types for a DICOM modality code, so "MRI" finds MR and "x-ray" finds DX/CR.
create function modality_search_terms(codes text[]) returns text
language sql immutable parallel safe as $$
    select coalesce(string_agg(
        case code
            when 'CT' then 'CT computed tomography'
            when 'MR' then 'MR MRI magnetic resonance imaging'
            when 'PT' then 'PT PET positron emission tomography'
            when 'DX' then 'DX x-ray xray radiograph radiography digital'
            when 'CR' then 'CR x-ray xray radiograph computed radiography'
            when 'MG' then 'MG mammography mammogram'
            when 'US' then 'US ultrasound sonography'
            when 'NM' then 'NM nuclear medicine scintigraphy SPECT'
            when 'SM' then 'SM slide microscopy pathology histopathology whole-slide'
            when 'XA' then 'XA x-ray angiography'
            when 'RF' then 'RF radiofluoroscopy fluoroscopy'
            when 'OT' then 'OT other'
            else code
        end, ' '), '')
    from unnest(codes) as code
$$;

-- The weighted search document: names first, then facts a researcher searches by, then prose.
create function dataset_search_vector(
    title text, aliases text[], slug text, doi text, organization_name text,
    modalities text[], body_parts text[], tasks text[], conditions text[], annotation_objects text[],
    challenge text, summary text, description text
) returns tsvector
language sql immutable parallel safe as $$
    select
        setweight(to_tsvector('english', coalesce(title, '') || ' ' || array_to_string(aliases, ' ')
            || ' ' || replace(coalesce(slug, ''), '-', ' ')), 'A')
        || setweight(to_tsvector('simple', coalesce(doi, '')), 'A')
        || setweight(to_tsvector('english',
            coalesce(organization_name, '') || ' ' || modality_search_terms(modalities) || ' '
            || array_to_string(body_parts, ' ') || ' ' || array_to_string(tasks, ' ') || ' '
            || array_to_string(conditions, ' ') || ' ' || array_to_string(annotation_objects, ' ')
            || ' ' || coalesce(challenge, '')), 'B')
        || setweight(to_tsvector('english', coalesce(summary, '')), 'C')
        || setweight(to_tsvector('english', coalesce(description, '')), 'D')
$$;

create table datasets (
    id bigint generated always as identity primary key,

    -- identity
    slug text not null unique
        constraint datasets_slug_format check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 120),
    title text not null
        constraint datasets_title_length check (length(btrim(title)) between 1 and 300),
    aliases text[] not null default '{}',
    summary text not null default '',
    description text not null default '',
    organization_id bigint not null references organizations (id) on delete restrict,
    publisher_raw text,
    landing_url text
        constraint datasets_landing_url check (landing_url ~ '^https?://[^\s]+$'),
    alt_urls text[] not null default '{}',
    doi text
        constraint datasets_doi_format check (doi ~ '^10\.[0-9]{4,9}/[^\s]+$'),
    citation text,

    -- kind and access
    source_kind source_kind not null,
    record_type text,
    access_level access_level, -- null: the sources do not say
    access_raw text,
    license text,
    license_raw text,
    data_use_limitations text[] not null default '{}'
        constraint datasets_duo_terms check (data_use_limitations <@ array[
            'DUO:0000004', 'DUO:0000006', 'DUO:0000007', 'DUO:0000011', 'DUO:0000042',
            'DUO:0000012', 'DUO:0000015', 'DUO:0000016', 'DUO:0000018', 'DUO:0000019',
            'DUO:0000020', 'DUO:0000021', 'DUO:0000022', 'DUO:0000024', 'DUO:0000025',
            'DUO:0000026', 'DUO:0000027', 'DUO:0000028', 'DUO:0000029', 'DUO:0000043',
            'DUO:0000044', 'DUO:0000045', 'DUO:0000046'
        ]::text[]),
    access_instructions text not null default '',

    -- imaging facts
    modalities text[] not null default '{}'
        constraint datasets_modality_codes check (modalities <@ array[
            'AR', 'ASMT', 'AU', 'BDUS', 'BI', 'BMD', 'CR', 'CT', 'DG', 'DOC', 'DX', 'ECG', 'EPS', 'ES',
            'GM', 'HC', 'HD', 'IO', 'IVOCT', 'IVUS', 'KER', 'KO', 'LEN', 'LS', 'M3D', 'MG', 'MR', 'NM',
            'OAM', 'OCT', 'OP', 'OPM', 'OPT', 'OPV', 'OSS', 'OT', 'PLAN', 'PR', 'PT', 'PX', 'REG',
            'RESP', 'RF', 'RG', 'RTDOSE', 'RTIMAGE', 'RTPLAN', 'RTRECORD', 'RTSTRUCT', 'RWV', 'SC',
            'SEG', 'SM', 'SMR', 'SR', 'SRF', 'TG', 'US', 'VA', 'XA', 'XC'
        ]::text[]),
    modality_raw text,
    body_parts text[] not null default '{}',
    tasks text[] not null default '{}',
    annotation_objects text[] not null default '{}',
    conditions text[] not null default '{}',
    formats text[] not null default '{}',
    species text,
    dimensionality text,
    label_category_count integer
        constraint datasets_label_category_count check (label_category_count >= 0),
    challenge text,
    supporting_data text[] not null default '{}',

    -- size
    subject_count bigint constraint datasets_subject_count check (subject_count >= 0),
    study_count bigint constraint datasets_study_count check (study_count >= 0),
    image_count bigint constraint datasets_image_count check (image_count >= 0),
    case_count bigint constraint datasets_case_count check (case_count >= 0),
    size_bytes bigint constraint datasets_size_bytes check (size_bytes >= 0),
    count_notes text,

    -- privacy
    deidentification text,
    contains_phi boolean not null default false,

    -- lifecycle
    status dataset_status not null default 'draft',
    year integer constraint datasets_year check (year between 1900 and 2100),
    release_date_raw text,
    last_updated_upstream date,
    upstream_status text,

    -- the NCI Imaging Data Commons view of the same collection, where there is one
    idc_collection_id text,
    idc_subject_count bigint constraint datasets_idc_subject_count check (idc_subject_count >= 0),
    idc_image_types text,
    idc_supporting_data text,
    idc_access text,
    idc_updated date,

    -- provenance
    notes text,
    sources text[] not null default '{}',

    search_vector tsvector not null default ''::tsvector,
    version integer not null default 1 constraint datasets_version_positive check (version >= 1),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index datasets_organization_id_idx on datasets (organization_id);
create index datasets_search_vector_idx on datasets using gin (search_vector);
create index datasets_modalities_idx on datasets using gin (modalities);
create index datasets_body_parts_idx on datasets using gin (body_parts);
create index datasets_status_updated_idx on datasets (status, updated_at desc);
create index datasets_title_trgm_idx on datasets using gin (lower(title) gin_trgm_ops);

-- A new version of the record moves updated_at; search upkeep alone does not.
create trigger datasets_set_updated_at before update on datasets
    for each row when (old.version is distinct from new.version) execute function set_updated_at();

create function datasets_refresh_search_vector() returns trigger
language plpgsql as $$
begin
    new.search_vector = dataset_search_vector(
        new.title, new.aliases, new.slug, new.doi,
        (select name from organizations where id = new.organization_id),
        new.modalities, new.body_parts, new.tasks, new.conditions, new.annotation_objects,
        new.challenge, new.summary, new.description);
    return new;
end
$$;

create trigger datasets_search_vector before insert or update on datasets
    for each row execute function datasets_refresh_search_vector();

-- Renaming an organization re-indexes its datasets.
create function organizations_reindex_datasets() returns trigger
language plpgsql as $$
begin
    update datasets set organization_id = organization_id where organization_id = new.id;
    return null;
end
$$;

create trigger organizations_reindex_datasets after update of name on organizations
    for each row when (old.name is distinct from new.name) execute function organizations_reindex_datasets();

-- Who changed what, when: one row per version of a dataset.
create table dataset_revisions (
    id bigint generated always as identity primary key,
    dataset_id bigint not null references datasets (id) on delete cascade,
    version integer not null,
    actor_id bigint references users (id) on delete set null,
    origin text not null constraint dataset_revisions_origin check (origin in ('import', 'editor', 'restore')),
    changes jsonb not null,
    snapshot jsonb not null,
    created_at timestamptz not null default now(),
    unique (dataset_id, version)
);
