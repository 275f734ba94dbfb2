//! Stage 2: rules that look at more than one field or attribute. Each rule
//! says what is wrong and what to write instead, at the tokens at fault.
//! Rules about other models (does `back_populates` name a real field of the
//! right type?) are left to the compiler: the expansion names that field in
//! typed code, so a mistake fails to compile at the attribute's span.

use proc_macro2::Span;
use syn::ext::IdentExt;

use crate::parse::{Errors, Field, FieldKind, Model, OnDelete};
use crate::symbol::*;

/// A persisted column: the field it comes from and its name in SQL.
pub struct Column<'a> {
    pub field: &'a Field,
    pub name: String,
}

/// The model after validation, with what expansion needs computed once.
pub struct Checked<'a> {
    pub model: &'a Model,
    pub columns: Vec<Column<'a>>,
    /// Position of the primary key in `columns`.
    pub primary_key: usize,
}

pub fn validate<'a>(model: &'a Model, errors: &mut Errors) -> Option<Checked<'a>> {
    for field in &model.fields {
        check_attributes_fit_kind(field, &model.ident.to_string(), errors);
    }
    let columns = columns(model, errors);
    check_struct_indexes(model, &columns, errors);
    check_version(model, errors);
    let primary_key = primary_key(model, &columns, errors)?;
    Some(Checked {
        model,
        columns,
        primary_key,
    })
}

fn columns<'a>(model: &'a Model, errors: &mut Errors) -> Vec<Column<'a>> {
    let mut columns: Vec<Column<'a>> = Vec::new();
    for field in &model.fields {
        if field.attrs.skip.is_some()
            || matches!(field.kind, FieldKind::Children(..) | FieldKind::Link(_))
        {
            continue;
        }
        let name = match (&field.attrs.column, &field.kind) {
            (Some(lit), _) => lit.value(),
            (None, FieldKind::BelongsTo(_)) => format!("{}_id", field.ident.unraw()),
            (None, _) => field.ident.unraw().to_string(),
        };
        let span = field
            .attrs
            .column
            .as_ref()
            .map_or(field.ident.span(), |lit| lit.span());
        if let Some(first) = columns.iter().find(|c| c.name.eq_ignore_ascii_case(&name)) {
            errors.at(
                span,
                format!(
                    "column `{name}` is mapped twice (fields `{}` and `{}`); rename one with #[orm(column = \"...\")]",
                    first.field.ident, field.ident
                ),
            );
            continue;
        }
        columns.push(Column { field, name });
    }
    columns
}

fn primary_key(model: &Model, columns: &[Column<'_>], errors: &mut Errors) -> Option<usize> {
    let keys: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.field.attrs.primary_key.is_some())
        .map(|(i, _)| i)
        .collect();
    match keys.as_slice() {
        [] if model.primary_key_typo => None,
        [] => {
            errors.at(
                model.ident.span(),
                format!(
                    "`{}` has no primary key; mark one field with #[orm(primary_key)], usually `id: i64`",
                    model.ident
                ),
            );
            None
        }
        [one] => {
            let key = &columns[*one].field;
            if crate::parse::generic_of(&key.ty).is_some_and(|(name, _)| name == "Option") {
                errors.push(syn::Error::new_spanned(
                    &key.ty,
                    format!("the primary key `{}` cannot be an `Option`: a row always has its key; use `i64`, which SQLite assigns on insert", key.ident),
                ));
            }
            Some(*one)
        }
        [first, rest @ ..] => {
            for other in rest {
                let span = columns[*other]
                    .field
                    .attrs
                    .primary_key
                    .unwrap_or(Span::call_site());
                errors.at(
                    span,
                    format!(
                        "`{}` has two primary keys (`{}` and `{}`); keep #[orm(primary_key)] on one field",
                        model.ident, columns[*first].field.ident, columns[*other].field.ident
                    ),
                );
            }
            Some(*first)
        }
    }
}

/// Which fields a relationship key belongs to, for messages.
fn relation_kinds(key: &str) -> &'static str {
    match key {
        ON_DELETE | OPTIONAL => "`BelongsTo<T>` fields",
        DELETE_ORPHAN => "`HasMany<T>` and `HasOne<T>` fields",
        THROUGH => "`ManyToMany<T>` fields",
        _ => "relationship fields (`BelongsTo<T>`, `HasMany<T>`, `HasOne<T>`, `ManyToMany<T>`)",
    }
}

/// Each attribute belongs to one kind of field.
fn check_attributes_fit_kind(field: &Field, model_name: &str, errors: &mut Errors) {
    let a = &field.attrs;
    let name = &field.ident;
    let given = |key: &'static str| (a.key_span(key), key);
    let relation_only = [
        given(BACK_POPULATES),
        given(ON_DELETE),
        given(OPTIONAL),
        given(DELETE_ORPHAN),
        given(LAZY),
    ];
    let column_only = [given(PRIMARY_KEY), given(DEFAULT), given(SQL_TYPE)];
    if let Some(lit) = &a.back_populates
        && syn::parse_str::<syn::Ident>(&lit.value()).is_err()
    {
        errors.at(
            lit.span(),
            "`back_populates` names a field of the other model, such as \"orders\"",
        );
    }
    match &field.kind {
        _ if a.through.is_some() && !matches!(field.kind, FieldKind::Link(_)) => {
            if let Some(lit) = &a.through {
                errors.at(
                    lit.span(),
                    format!("`through` is for `ManyToMany` fields, and `{name}` is not one"),
                );
            }
        }
        FieldKind::Column => {
            for (span, key) in relation_only
                .into_iter()
                .filter_map(|(s, k)| s.map(|s| (s, k)))
            {
                errors.at(
                    span,
                    format!(
                        "`{key}` is for {}, and `{name}` is a column",
                        relation_kinds(key)
                    ),
                );
            }
        }
        FieldKind::BelongsTo(_) => {
            for (span, key) in column_only
                .into_iter()
                .filter_map(|(s, k)| s.map(|s| (s, k)))
            {
                errors.at(
                    span,
                    format!("`{key}` does not apply to `BelongsTo` field `{name}`: its column takes the type of the parent's primary key"),
                );
            }
            if let Some(span) = a.delete_orphan {
                errors.at(span, "`delete_orphan` goes on the `HasMany` side: the parent deletes the children it lets go");
            }
            if let (Some((lit, OnDelete::SetNull)), None) = (&a.on_delete, a.optional) {
                errors.at(
                    lit.span(),
                    format!("`on_delete = \"set null\"` needs a nullable key: add #[orm(optional)] to `{name}`"),
                );
            }
        }
        FieldKind::Link(other) => {
            let misplaced = column_only.into_iter().chain([
                given(COLUMN),
                given(UNIQUE),
                given(INDEX),
                given(ON_DELETE),
                given(OPTIONAL),
                given(DELETE_ORPHAN),
            ]);
            for (span, key) in misplaced.filter_map(|(s, k)| s.map(|s| (s, k))) {
                errors.at(
                    span,
                    format!("`{key}` does not apply to `ManyToMany` field `{name}`: its keys live in the link table"),
                );
            }
            if a.through.is_none() {
                errors.at(
                    field.ident.span(),
                    format!("`ManyToMany` field `{name}` needs its link table: #[orm(through = \"...\")]"),
                );
            }
            if crate::parse::type_name(other) == model_name {
                errors.at(
                    field.ident.span(),
                    format!("`{name}` links `{model_name}` to itself; a self-referential many-to-many needs two differently named link columns, which is not supported yet: use an association model with two `BelongsTo<{model_name}>` fields"),
                );
            }
        }
        FieldKind::Children(_, kind) => {
            let misplaced = column_only.into_iter().chain([
                given(COLUMN),
                given(UNIQUE),
                given(INDEX),
                given(ON_DELETE),
                given(OPTIONAL),
            ]);
            for (span, key) in misplaced.filter_map(|(s, k)| s.map(|s| (s, k))) {
                errors.at(
                    span,
                    format!("`{key}` does not apply to `{kind}` field `{name}`: it has no column (the foreign key is on the other side)"),
                );
            }
            if a.back_populates.is_none() {
                errors.at(
                    field.ident.span(),
                    format!("`{kind}` field `{name}` needs to name the `BelongsTo` field on the other side that points back: #[orm(back_populates = \"...\")]"),
                );
            }
        }
    }
    if let Some(span) = a.skip {
        let others = [a.primary_key, a.unique, a.index]
            .into_iter()
            .flatten()
            .count()
            + usize::from(a.column.is_some() || a.default.is_some() || a.sql_type.is_some());
        if others > 0 {
            errors.at(
                span,
                format!("`{name}` is `skip`ped (not persisted), so it can have no column settings"),
            );
        }
        if !matches!(field.kind, FieldKind::Column) {
            errors.at(
                span,
                "relationship fields cannot be skipped; remove the field instead",
            );
        }
    }
}

/// At most one version column, an integer column that is not the key.
fn check_version(model: &Model, errors: &mut Errors) {
    let mut seen = false;
    for field in &model.fields {
        let Some(span) = field.attrs.version else {
            continue;
        };
        let name = &field.ident;
        if seen {
            errors.at(
                span,
                format!(
                    "`{}` has two version columns; keep #[orm(version)] on one",
                    model.ident
                ),
            );
        }
        seen = true;
        if !matches!(field.kind, FieldKind::Column)
            || field.attrs.primary_key.is_some()
            || !crate::parse::is_integer(&field.ty)
        {
            errors.at(
                span,
                format!("`version` goes on an integer column that is not the primary key, such as `version: i64`; `{name}` is not one"),
            );
        }
    }
}

fn check_struct_indexes(model: &Model, columns: &[Column<'_>], errors: &mut Errors) {
    for index in &model.indexes {
        for ident in &index.fields {
            if !columns.iter().any(|c| c.field.ident == *ident) {
                errors.at(
                    ident.span(),
                    format!(
                        "`{}` has no persisted field `{ident}` to index",
                        model.ident
                    ),
                );
            }
        }
    }
}
