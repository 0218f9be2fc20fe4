//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`. The integration tests hold
//! real responses against its schemas.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::v1::base;
use crate::catalog::duo;
use crate::catalog::model::{AccessLevel, SourceKind};
use crate::catalog::query::{MAX_PER_PAGE, MAX_QUERY_CHARS};
use crate::pagination::{MAX_PAGE, PER_PAGE};
use crate::web::AppState;

pub async fn document(State(state): State<AppState>) -> Json<Value> {
    Json(spec(&base(&state)))
}

/// The document, with `base_url` as its server.
pub fn spec(base_url: &str) -> Value {
    let mut document = operations(base_url);
    edge_rules(&mut document);
    document
}

/// A parameter's text: no control character (`crate::web::edge` refuses them before any handler).
const SINGLE_LINE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// A blank parameter, the same as none: spaces only, and still no control character.
const BLANK: &str = "^[^\\S\\u0000-\\u001f\\u007f-\\u009f]*$";
/// A JSON string's text: newlines, carriage returns and tabs are allowed too.
const MULTI_LINE: &str = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";
/// A name: JSON text with at least one character that is not a space.
const NAME: &str = "^[^\\S\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";
/// An ORCID iD, or nothing (which removes it), with spaces around.
const ORCID: &str = "^[ \\t\\r\\n]*(\\d{4}-\\d{4}-\\d{4}-\\d{3}[0-9X])?[ \\t\\r\\n]*$";

/// What holds for every operation because the edge and the shared parameter parsing do it: a
/// parameter's text has no control character (else 400 naming it), and an empty or blank value is
/// the same as none.
fn edge_rules(document: &mut Value) {
    let refused = json!({
        "description": "A parameter cannot be used (a control character, bytes that are not UTF-8, or a value out of range); `error.parameter` names it.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|methods| methods.values_mut())
    {
        if let Some(responses) = operation["responses"].as_object_mut() {
            responses.entry("400").or_insert_with(|| refused.clone());
        }
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for parameter in parameters {
            let in_query = parameter["in"] == "query";
            let schema = &mut parameter["schema"];
            let scalar = if schema["type"] == "array" {
                &mut schema["items"]
            } else {
                schema
            };
            if scalar["type"] == "string" && scalar.get("enum").is_none() {
                scalar["pattern"] = json!(SINGLE_LINE);
            }
            if in_query {
                *scalar = json!({"anyOf": [scalar.take(), {"type": "string", "pattern": BLANK}]});
            }
        }
    }
}

fn operations(base_url: &str) -> Value {
    let kinds: Vec<&str> = SourceKind::ALL.iter().map(|kind| kind.as_str()).collect();
    let levels: Vec<&str> = AccessLevel::ALL
        .iter()
        .map(|level| level.as_str())
        .collect();
    let mut access_filter = levels.clone();
    access_filter.push("unknown");
    let duo_terms: Vec<&str> = duo::terms()
        .iter()
        .filter(|term| term.is_usable())
        .flat_map(|term| std::iter::once(term.id.as_str()).chain(term.shorthand.as_deref()))
        .collect();
    let list_param = |name: &str, description: &str| {
        json!({
            "name": name, "in": "query", "required": false, "description": description,
            "style": "form", "explode": true,
            "schema": {"type": "array", "items": {"type": "string"}}
        })
    };
    let nullable = |schema: Value| json!({"anyOf": [schema, {"type": "null"}]});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "radportal API",
            "version": "1.0.0",
            "description": "The catalog of AI-radiology datasets: search with the same query, filters, facets and sort as the search page; full dataset records; organizations. Several values of one filter combine with OR, different filters with AND."
        },
        "servers": [{"url": base_url}],
        "paths": {
            "/api/v1/datasets": {
                "get": {
                    "operationId": "listDatasets",
                    "summary": "Search datasets",
                    "parameters": [
                        {"name": "q", "in": "query", "required": false, "description": format!("Search text (websearch syntax: quotes for phrases, - to exclude, or). At most {MAX_QUERY_CHARS} characters."), "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS}},
                        list_param("org", "Organization slugs."),
                        {"name": "kind", "in": "query", "required": false, "style": "form", "explode": true, "description": "Source kinds.", "schema": {"type": "array", "items": {"type": "string", "enum": kinds}}},
                        {"name": "access", "in": "query", "required": false, "style": "form", "explode": true, "description": "Access levels; `unknown` for not stated.", "schema": {"type": "array", "items": {"type": "string", "enum": access_filter}}},
                        list_param("modality", "DICOM modality codes (CT, MR, PT, DX ...)."),
                        list_param("body_part", "Body parts (lower case)."),
                        list_param("task", "Task categories (segmentation, classification ...)."),
                        list_param("license", "Licences; `unknown` for not stated."),
                        {"name": "duo", "in": "query", "required": false, "style": "form", "explode": true, "description": "GA4GH DUO data-use limitation terms (current permissions and modifiers), by id or shorthand.", "schema": {"type": "array", "items": {"type": "string", "enum": duo_terms}}},
                        {"name": "sort", "in": "query", "required": false, "schema": {"type": "string", "enum": ["relevance", "title", "subjects", "newest"], "default": "relevance"}},
                        {"name": "page", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}},
                        {"name": "per_page", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": PER_PAGE}}
                    ],
                    "responses": {
                        "200": {"description": "A page of results with facet counts.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DatasetList"}}}},
                        "400": {"description": "A parameter cannot be used; `error.parameter` names it.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            },
            "/api/v1/datasets/{slug}": {
                "get": {
                    "operationId": "getDataset",
                    "summary": "A dataset's full record",
                    "parameters": [{"name": "slug", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "The dataset.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DatasetRecord"}}}},
                        "404": {"description": "No such public dataset.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            },
            "/api/v1/organizations": {
                "get": {
                    "operationId": "listOrganizations",
                    "summary": "Organizations with their number of published datasets",
                    "responses": {
                        "200": {"description": "All organizations.", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Organization"}}}}}
                    }
                }
            },
            "/api/v1/me": {
                "get": {
                    "operationId": "showMe",
                    "summary": "The account behind the personal API token",
                    "security": [{"bearerToken": []}],
                    "responses": {
                        "200": {"description": "The account.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Me"}}}},
                        "401": {"description": "No token, or an unknown, expired or revoked one.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                },
                "patch": {
                    "operationId": "updateMe",
                    "summary": "Change the account's name, institution or ORCID iD (read-write token)",
                    "security": [{"bearerToken": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MeUpdate"}}}},
                    "responses": {
                        "200": {"description": "The changed account.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Me"}}}},
                        "400": {"description": "The body is not a JSON object of the documented fields.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                        "401": {"description": "No token, or an unknown, expired or revoked one.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                        "403": {"description": "The token is read-only.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                        "422": {"description": "A field is not valid; `error.fields` says which and why.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            },
            "/api/v1/me/requests": {
                "get": {
                    "operationId": "listMyRequests",
                    "summary": "The token holder's access requests, newest first",
                    "security": [{"bearerToken": []}],
                    "responses": {
                        "200": {"description": "The requests.", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/MyRequest"}}}}},
                        "401": {"description": "No token, or an unknown, expired or revoked one.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            },
            "/api/v1/me/grants": {
                "get": {
                    "operationId": "listMyGrants",
                    "summary": "The token holder's grants (access to controlled datasets)",
                    "security": [{"bearerToken": []}],
                    "responses": {
                        "200": {"description": "The grants.", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/MyGrant"}}}}},
                        "401": {"description": "No token, or an unknown, expired or revoked one.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            },
            "/api/v1/entitlements": {
                "get": {
                    "operationId": "listEntitlements",
                    "summary": "Who may use which controlled dataset now (for data hosts)",
                    "security": [{"bearerToken": []}],
                    "parameters": [{"name": "dataset", "in": "query", "schema": {"type": "string"}, "description": "Only this dataset (catalog id)."}],
                    "responses": {
                        "200": {"description": "Live grants: not expired, revoked or suspended.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Entitlements"}}}},
                        "401": {"description": "No token, or an unknown, expired or revoked one.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                        "403": {"description": "The token is not a data-host token.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer", "description": "A personal API token (`rp_...`) from the account page; read-only or read-write."}
            },
            "schemas": {
                "MyRequest": {
                    "type": "object",
                    "required": ["id", "state", "project", "committee", "datasets", "submitted_at", "decided_at"],
                    "properties": {
                        "id": {"type": "integer"},
                        "state": {"type": "string", "enum": ["draft", "submitted", "in_review", "changes_requested", "approved", "rejected", "withdrawn"]},
                        "project": {"type": "string"},
                        "committee": {"type": "string"},
                        "datasets": {"type": "array", "items": {"type": "string"}},
                        "submitted_at": {"type": ["string", "null"], "format": "date-time"},
                        "decided_at": {"type": ["string", "null"], "format": "date-time"}
                    }
                },
                "MyGrant": {
                    "type": "object",
                    "required": ["id", "dataset", "title", "status", "expires_at", "request_id"],
                    "properties": {
                        "id": {"type": "integer"},
                        "dataset": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "string", "enum": ["Active", "Re-acceptance required", "Suspended", "Expired", "Revoked"]},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "request_id": {"type": "integer"}
                    }
                },
                "Entitlements": {
                    "type": "object",
                    "required": ["generated_at", "count", "entitlements"],
                    "properties": {
                        "generated_at": {"type": "string", "format": "date-time"},
                        "count": {"type": "integer"},
                        "entitlements": {"type": "array", "items": {
                            "type": "object",
                            "required": ["grant_id", "dataset", "user_email", "user_name", "starts_at", "expires_at", "request_id"],
                            "properties": {
                                "grant_id": {"type": "integer"},
                                "dataset": {"type": "string"},
                                "user_email": {"type": "string"},
                                "user_name": {"type": "string"},
                                "orcid": {"type": ["string", "null"]},
                                "starts_at": {"type": "string", "format": "date-time"},
                                "expires_at": {"type": "string", "format": "date-time"},
                                "request_id": {"type": "integer"}
                            }
                        }}
                    }
                },
                "Me": {
                    "type": "object",
                    "required": ["id", "email", "name", "institution", "orcid", "role", "email_verified", "token_scope"],
                    "properties": {
                        "id": {"type": "integer"},
                        "email": {"type": "string"},
                        "name": {"type": "string"},
                        "institution": {"type": "string"},
                        "orcid": {"type": ["string", "null"], "pattern": "^\\d{4}-\\d{4}-\\d{4}-\\d{3}[0-9X]$"},
                        "role": {"type": "string", "enum": ["researcher", "reviewer", "admin"]},
                        "email_verified": {"type": "boolean"},
                        "token_scope": {"type": "string", "enum": ["read", "read_write", "data_host"]}
                    }
                },
                "MeUpdate": {
                    "type": "object",
                    "additionalProperties": false,
                    "description": "A field left out or `null` stays as it is; surrounding spaces are trimmed.",
                    "properties": {
                        "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 200, "pattern": NAME},
                        "institution": {"type": ["string", "null"], "maxLength": 200, "pattern": MULTI_LINE},
                        "orcid": {"type": ["string", "null"], "pattern": ORCID, "description": "An ORCID iD with a valid check digit, or an empty string to remove it."}
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["status", "code", "message"],
                            "properties": {
                                "status": {"type": "integer"},
                                "code": {"type": "string", "enum": ["invalid_parameter", "bad_request", "unauthorized", "forbidden", "insufficient_scope", "invalid", "not_found", "unavailable", "internal_error"]},
                                "message": {"type": "string"},
                                "parameter": {"type": "string"},
                                "fields": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
                            },
                            "additionalProperties": false
                        }
                    },
                    "additionalProperties": false
                },
                "OrganizationRef": {
                    "type": "object",
                    "required": ["slug", "name"],
                    "properties": {"slug": {"type": "string"}, "name": {"type": "string"}},
                    "additionalProperties": false
                },
                "Organization": {
                    "type": "object",
                    "required": ["slug", "name", "homepage", "description", "dataset_count", "url"],
                    "properties": {
                        "slug": {"type": "string"},
                        "name": {"type": "string"},
                        "homepage": nullable(json!({"type": "string", "format": "uri"})),
                        "description": {"type": "string"},
                        "dataset_count": {"type": "integer", "minimum": 0},
                        "url": {"type": "string", "format": "uri"}
                    },
                    "additionalProperties": false
                },
                "DatasetItem": {
                    "type": "object",
                    "required": ["slug", "title", "summary", "organization", "source_kind", "access_level", "modalities", "body_parts", "subject_count", "image_count", "year", "license", "doi", "url", "api_url"],
                    "properties": {
                        "slug": {"type": "string"},
                        "title": {"type": "string"},
                        "summary": {"type": "string"},
                        "organization": {"$ref": "#/components/schemas/OrganizationRef"},
                        "source_kind": {"type": "string", "enum": kinds},
                        "access_level": nullable(json!({"type": "string", "enum": levels})),
                        "modalities": strings,
                        "body_parts": strings,
                        "subject_count": nullable(json!({"type": "integer", "minimum": 0})),
                        "image_count": nullable(json!({"type": "integer", "minimum": 0})),
                        "year": nullable(json!({"type": "integer"})),
                        "license": nullable(json!({"type": "string"})),
                        "doi": nullable(json!({"type": "string"})),
                        "url": {"type": "string", "format": "uri"},
                        "api_url": {"type": "string", "format": "uri"}
                    },
                    "additionalProperties": false
                },
                "FacetItem": {
                    "type": "object",
                    "required": ["value", "label", "count"],
                    "properties": {"value": {"type": "string"}, "label": {"type": "string"}, "count": {"type": "integer", "minimum": 0}},
                    "additionalProperties": false
                },
                "DatasetList": {
                    "type": "object",
                    "required": ["total", "page", "per_page", "text_match", "results", "facets", "links"],
                    "properties": {
                        "total": {"type": "integer", "minimum": 0},
                        "page": {"type": "integer", "minimum": 1},
                        "per_page": {"type": "integer", "minimum": 1},
                        "text_match": nullable(json!({"type": "string", "enum": ["all", "any", "similar"]})),
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/DatasetItem"}},
                        "facets": {
                            "type": "object",
                            "description": "Facet parameter → values with counts over the other filters.",
                            "propertyNames": {"enum": ["org", "kind", "access", "modality", "body_part", "task", "license", "duo"]},
                            "additionalProperties": {"type": "array", "items": {"$ref": "#/components/schemas/FacetItem"}}
                        },
                        "links": {
                            "type": "object",
                            "required": ["self", "next", "prev"],
                            "properties": {
                                "self": {"type": "string"},
                                "next": nullable(json!({"type": "string"})),
                                "prev": nullable(json!({"type": "string"}))
                            },
                            "additionalProperties": false
                        }
                    },
                    "additionalProperties": false
                },
                "DatasetRecord": {
                    "type": "object",
                    "description": "Every fact of a dataset. `null` means not stated by the sources.",
                    "required": ["slug", "title", "aliases", "summary", "description", "organization_slug", "organization", "source_kind", "access_level", "modalities", "body_parts", "tasks", "sources", "status", "version", "created_at", "updated_at", "url"],
                    "properties": {
                        "slug": {"type": "string"},
                        "title": {"type": "string"},
                        "aliases": strings,
                        "summary": {"type": "string"},
                        "description": {"type": "string", "description": "Markdown."},
                        "organization_slug": {"type": "string"},
                        "organization": {"$ref": "#/components/schemas/OrganizationRef"},
                        "publisher_raw": nullable(json!({"type": "string"})),
                        "landing_url": nullable(json!({"type": "string", "format": "uri"})),
                        "alt_urls": strings,
                        "doi": nullable(json!({"type": "string"})),
                        "citation": nullable(json!({"type": "string"})),
                        "source_kind": {"type": "string", "enum": kinds},
                        "record_type": nullable(json!({"type": "string"})),
                        "access_level": nullable(json!({"type": "string", "enum": levels})),
                        "access_raw": nullable(json!({"type": "string"})),
                        "license": nullable(json!({"type": "string"})),
                        "license_raw": nullable(json!({"type": "string"})),
                        "data_use_limitations": strings,
                        "access_instructions": {"type": "string"},
                        "modalities": strings,
                        "modality_raw": nullable(json!({"type": "string"})),
                        "body_parts": strings,
                        "tasks": strings,
                        "annotation_objects": strings,
                        "conditions": strings,
                        "formats": strings,
                        "species": nullable(json!({"type": "string"})),
                        "dimensionality": nullable(json!({"type": "string"})),
                        "label_category_count": nullable(json!({"type": "integer"})),
                        "challenge": nullable(json!({"type": "string"})),
                        "supporting_data": strings,
                        "subject_count": nullable(json!({"type": "integer", "minimum": 0})),
                        "study_count": nullable(json!({"type": "integer", "minimum": 0})),
                        "image_count": nullable(json!({"type": "integer", "minimum": 0})),
                        "case_count": nullable(json!({"type": "integer", "minimum": 0})),
                        "size_bytes": nullable(json!({"type": "integer", "minimum": 0})),
                        "count_notes": nullable(json!({"type": "string"})),
                        "deidentification": nullable(json!({"type": "string"})),
                        "contains_phi": {"type": "boolean"},
                        "year": nullable(json!({"type": "integer"})),
                        "release_date_raw": nullable(json!({"type": "string"})),
                        "last_updated_upstream": nullable(json!({"type": "string", "format": "date"})),
                        "upstream_status": nullable(json!({"type": "string"})),
                        "idc_collection_id": nullable(json!({"type": "string"})),
                        "idc_subject_count": nullable(json!({"type": "integer"})),
                        "idc_image_types": nullable(json!({"type": "string"})),
                        "idc_supporting_data": nullable(json!({"type": "string"})),
                        "idc_access": nullable(json!({"type": "string"})),
                        "idc_updated": nullable(json!({"type": "string", "format": "date"})),
                        "notes": nullable(json!({"type": "string"})),
                        "sources": strings,
                        "status": {"type": "string", "enum": ["published", "retired"]},
                        "version": {"type": "integer", "minimum": 1},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "url": {"type": "string", "format": "uri"}
                    },
                    "additionalProperties": false
                }
            }
        }
    })
}
