//! Stage 2: rules that look at more than one field or attribute. Each rule
//! says what is wrong and what to write instead, at the tokens at fault.
//! Rules about other models (does `back_populates` name a real field of the
//! right type?) are left to the compiler: the expansion names that field in
//! typed code, so a mistake fails to compile at the attribute's span.

use proc_macro2::Span;
use syn::ext::IdentExt;

use crate::field::{
    BelongsToAttrs, ChildrenAttrs, ColumnAttrs, Field, FieldKind, LinkAttrs, OnDelete,
};
use crate::parse::{Errors, Model};
use crate::symbol::*;

/// A persisted column: the field it comes from and its name in SQL.
pub struct Column<'a> {
    pub field: &'a Field,
    pub name: String,
    pub source: Source<'a>,
}

/// The two kinds of field that have a column, with their settings.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A column of its own.
    Plain(&'a ColumnAttrs),
    /// The foreign key of a `BelongsTo`.
    ForeignKey(&'a BelongsToAttrs),
}

impl Column<'_> {
    /// Where `primary_key` was given, on either kind: a `BelongsTo` that
    /// claims it is reported and still counts, as a second key would.
    pub fn primary_key(&self) -> Option<Span> {
        match self.source {
            Source::Plain(c) => c.primary_key,
            Source::ForeignKey(_) => self.field.misplaced_flag(PRIMARY_KEY),
        }
    }
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
    for field in &model.fields {
        check_defaulted(model, field, &columns, errors);
    }
    check_struct_indexes(model, &columns, errors);
    check_version(model, errors);
    let primary_key = primary_key(model, &columns, errors)?;
    Some(Checked {
        model,
        columns,
        primary_key,
    })
}

/// A column flag looked for on any field: the rules about `skip` and
/// `version` also catch them where they do not belong.
fn column_flag(field: &Field, key: &str, get: fn(&ColumnAttrs) -> Option<Span>) -> Option<Span> {
    match &field.kind {
        FieldKind::Column(c) => get(c),
        _ => field.misplaced_flag(key),
    }
}

fn columns<'a>(model: &'a Model, errors: &mut Errors) -> Vec<Column<'a>> {
    let mut columns: Vec<Column<'a>> = Vec::new();
    for field in &model.fields {
        if column_flag(field, SKIP, |c| c.skip).is_some() {
            continue;
        }
        let (source, column) = match &field.kind {
            FieldKind::Column(c) => (Source::Plain(c), &c.column),
            FieldKind::BelongsTo(b) => (Source::ForeignKey(b), &b.column),
            _ => continue,
        };
        let name = match (column, source) {
            (Some(lit), _) => lit.value(),
            (None, Source::ForeignKey(_)) => format!("{}_id", field.ident.unraw()),
            (None, Source::Plain(_)) => field.ident.unraw().to_string(),
        };
        let span = column.as_ref().map_or(field.ident.span(), |lit| lit.span());
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
        columns.push(Column {
            field,
            name,
            source,
        });
    }
    columns
}

fn primary_key(model: &Model, columns: &[Column<'_>], errors: &mut Errors) -> Option<usize> {
    let keys: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.primary_key().is_some())
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
                let span = columns[*other].primary_key().unwrap_or(Span::call_site());
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
        ORDER_BY => "`HasMany<T>` and `ManyToMany<T>` fields",
        _ => "relationship fields (`BelongsTo<T>`, `HasMany<T>`, `HasOne<T>`, `ManyToMany<T>`)",
    }
}

/// Each attribute belongs to one kind of field.
fn check_attributes_fit_kind(field: &Field, model_name: &str, errors: &mut Errors) {
    let back_populates = match field.kind.relation() {
        Some(relation) => relation.back_populates.as_ref(),
        None => field.misplaced_text(BACK_POPULATES),
    };
    if let Some(lit) = back_populates
        && syn::parse_str::<syn::Ident>(&lit.value()).is_err()
    {
        errors.at(
            lit.span(),
            "`back_populates` names a field of the other model, such as \"orders\"",
        );
    }
    // `through` says the field was meant to be a `ManyToMany`: that is the
    // one mistake to report, not every setting that follows from it.
    if let Some(lit) = field.misplaced_text(THROUGH) {
        errors.at(
            lit.span(),
            format!(
                "`through` is for `ManyToMany` fields, and `{}` is not one",
                field.ident
            ),
        );
    } else {
        match &field.kind {
            FieldKind::Column(_) => report_misplaced(
                field,
                &[
                    BACK_POPULATES,
                    ON_DELETE,
                    OPTIONAL,
                    DELETE_ORPHAN,
                    LAZY,
                    ORDER_BY,
                ],
                |key| {
                    format!(
                        "`{key}` is for {}, and `{}` is a column",
                        relation_kinds(key),
                        field.ident
                    )
                },
                errors,
            ),
            FieldKind::BelongsTo(belongs_to) => check_belongs_to(field, belongs_to, errors),
            FieldKind::HasMany(children) => check_children(field, children, "HasMany", errors),
            FieldKind::HasOne(children) => check_children(field, children, "HasOne", errors),
            FieldKind::ManyToMany(link) => check_many_to_many(field, link, model_name, errors),
        }
    }
    check_skip(field, errors);
}

/// Reports each of `keys` given on `field`, in the order of `keys`.
fn report_misplaced(
    field: &Field,
    keys: &[&str],
    message: impl Fn(&str) -> String,
    errors: &mut Errors,
) {
    for key in keys {
        if let Some(misplaced) = field.misplaced(key) {
            errors.at(misplaced.span, message(key));
        }
    }
}

fn check_belongs_to(field: &Field, belongs_to: &BelongsToAttrs, errors: &mut Errors) {
    let name = &field.ident;
    report_misplaced(
        field,
        &[PRIMARY_KEY, DEFAULT, SQL_TYPE],
        |key| {
            format!(
                "`{key}` does not apply to `BelongsTo` field `{name}`: its column takes the type of the parent's primary key"
            )
        },
        errors,
    );
    if let Some(span) = field.misplaced_flag(DELETE_ORPHAN) {
        errors.at(span, "`delete_orphan` goes on the `HasMany` side: the parent deletes the children it lets go");
    }
    if let Some(misplaced) = field.misplaced(ORDER_BY) {
        errors.at(
            misplaced.span,
            format!("`order_by` is for collections (`HasMany`, `ManyToMany`), and `{name}` points at one object"),
        );
    }
    if let (Some((lit, OnDelete::SetNull)), None) = (&belongs_to.on_delete, belongs_to.optional) {
        errors.at(
            lit.span(),
            format!(
                "`on_delete = \"set null\"` needs a nullable key: add #[orm(optional)] to `{name}`"
            ),
        );
    }
}

fn check_many_to_many(field: &Field, link: &LinkAttrs, model_name: &str, errors: &mut Errors) {
    let name = &field.ident;
    let message = |key: &str| {
        format!(
            "`{key}` does not apply to `ManyToMany` field `{name}`: its keys live in the link table"
        )
    };
    report_misplaced(field, COLUMN_SETTINGS, message, errors);
    report_misplaced(field, &[DELETE_ORPHAN], message, errors);
    if link.through.is_none() {
        errors.at(
            name.span(),
            format!("`ManyToMany` field `{name}` needs its link table: #[orm(through = \"...\")]"),
        );
    }
    if crate::parse::type_name(&link.relation.target) == model_name {
        errors.at(
            name.span(),
            format!("`{name}` links `{model_name}` to itself; a self-referential many-to-many needs two differently named link columns, which is not supported yet: use an association model with two `BelongsTo<{model_name}>` fields"),
        );
    }
}

/// The settings of a column, none of which a collection field takes.
const COLUMN_SETTINGS: &[&str] = &[
    PRIMARY_KEY,
    DEFAULT,
    SQL_TYPE,
    COLUMN,
    UNIQUE,
    INDEX,
    ON_DELETE,
    OPTIONAL,
];

/// `kind` is `HasMany` or `HasOne`, for the messages.
fn check_children(field: &Field, children: &ChildrenAttrs, kind: &str, errors: &mut Errors) {
    let name = &field.ident;
    if let Some(misplaced) = field.misplaced(ORDER_BY) {
        errors.at(
            misplaced.span,
            format!("`order_by` is for collections (`HasMany`, `ManyToMany`), and `{kind}` field `{name}` holds one object"),
        );
    }
    report_misplaced(
        field,
        COLUMN_SETTINGS,
        |key| {
            format!(
                "`{key}` does not apply to `{kind}` field `{name}`: it has no column (the foreign key is on the other side)"
            )
        },
        errors,
    );
    if children.relation.back_populates.is_none() {
        errors.at(
            name.span(),
            format!("`{kind}` field `{name}` needs to name the `BelongsTo` field on the other side that points back: #[orm(back_populates = \"...\")]"),
        );
    }
}

/// A skipped field is not persisted: no column settings, and only a plain
/// column can be skipped.
fn check_skip(field: &Field, errors: &mut Errors) {
    let Some(span) = column_flag(field, SKIP, |c| c.skip) else {
        return;
    };
    let own = match &field.kind {
        FieldKind::Column(c) => {
            c.primary_key.is_some()
                || c.unique.is_some()
                || c.index.is_some()
                || c.column.is_some()
                || c.default.is_some()
                || c.sql_type.is_some()
        }
        FieldKind::BelongsTo(b) => b.unique.is_some() || b.index.is_some() || b.column.is_some(),
        _ => false,
    };
    let misplaced = [PRIMARY_KEY, UNIQUE, INDEX, COLUMN, DEFAULT, SQL_TYPE]
        .iter()
        .any(|key| field.misplaced(key).is_some_and(|m| m.value.is_some()));
    if own || misplaced {
        errors.at(
            span,
            format!(
                "`{}` is `skip`ped (not persisted), so it can have no column settings",
                field.ident
            ),
        );
    }
    if !matches!(field.kind, FieldKind::Column(_)) {
        errors.at(
            span,
            "relationship fields cannot be skipped; remove the field instead",
        );
    }
}

/// At most one version column, an integer column that is not the key.
fn check_version(model: &Model, errors: &mut Errors) {
    let mut seen = false;
    for field in &model.fields {
        let Some(span) = column_flag(field, VERSION, |c| c.version) else {
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
        let fits = matches!(&field.kind, FieldKind::Column(c) if c.primary_key.is_none())
            && crate::parse::is_integer(&field.ty);
        // A `Defaulted` version column has its own message.
        if !fits && field.defaulted().is_none() {
            errors.at(
                span,
                format!("`version` goes on an integer column that is not the primary key, such as `version: i64`; `{name}` is not one"),
            );
        }
    }
}

/// The rules of `Defaulted<T>` fields: the database must have a default to
/// choose, and the columns whose value the ORM itself decides (the primary
/// key, the version counter) or takes from a parent (a foreign key) cannot
/// be left to it. The bit sets of unset columns hold 64 columns.
fn check_defaulted(model: &Model, field: &Field, columns: &[Column<'_>], errors: &mut Errors) {
    let name = &field.ident;
    if let Some((outer, inner)) = crate::parse::generic_of(&field.ty)
        && outer == "Option"
        && crate::parse::type_name(&inner) == "Defaulted"
    {
        errors.push(syn::Error::new_spanned(
            &field.ty,
            "a nullable column left to the database's default is `Defaulted<Option<T>>`, not `Option<Defaulted<T>>`",
        ));
    }
    let Some(inner) = field.defaulted() else {
        return;
    };
    let FieldKind::Column(c) = &field.kind else {
        return;
    };
    if c.skip.is_some() {
        return;
    }
    if let Some((relation, _)) = crate::parse::generic_of(&inner)
        && ["BelongsTo", "HasMany", "HasOne", "ManyToMany"].contains(&relation.as_str())
    {
        errors.push(syn::Error::new_spanned(
            &field.ty,
            format!("relationship fields cannot be `Defaulted`: write `{name}: {relation}<...>`; a foreign key takes its value from the parent"),
        ));
        return;
    }
    if let Some(span) = c.primary_key {
        errors.at(
            span,
            format!("the primary key `{name}` cannot be `Defaulted`: the session finds objects by their key, so it is never left to a default; an `i64` key left at 0 is assigned by SQLite on insert: write `{name}: i64`"),
        );
    }
    if let Some(span) = c.version {
        errors.at(
            span,
            format!("the version column `{name}` cannot be `Defaulted`: the insert starts it at 1; write `{name}: i64`"),
        );
    }
    if c.default.is_none() {
        errors.at(
            name.span(),
            format!("`{name}` is `Defaulted`, so the database needs a default to choose when it is unset: add #[orm(default = \"...\")], such as \"CURRENT_TIMESTAMP\" or \"0\", or make it a plain field (which `new` takes)"),
        );
    }
    if let Some(i) = columns.iter().position(|c| c.field.ident == *name)
        && i >= 64
    {
        errors.at(
            name.span(),
            format!(
                "`{name}` is `Defaulted` but column {} of `{}`; a `Defaulted` field must be among the first 64 columns: move it up",
                i + 1,
                model.ident
            ),
        );
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
