-- Related datasets with the same main anatomy but another main modality, largest first: read in index
-- order and stop after the few needed.
create index datasets_related_body_idx on datasets (primary_body_part, subject_count desc nulls last, id)
    where status = 'published';
