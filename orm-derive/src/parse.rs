//! Stage 1: the `syn` input and its `#[orm(...)]` attributes, read into our
//! own model of the struct (a field and the settings of its kind are in
//! [`crate::field`]). Every node keeps the tokens it came from, so a
//! later error can point at them. Nothing here returns early: each mistake
//! is pushed to the [`Errors`] collector and parsing goes on, so the user
//! sees all of them in one build.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Fields, FieldsNamed, GenericArgument, Ident, LitStr, PathArguments, Type,
};

use crate::field::{Field, FieldKind, Misplaced, OnDelete, OrderBy, Value};
use crate::symbol::*;

/// Collects errors; the stage boundary turns them into one compile error.
#[derive(Default)]
pub struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// All errors combined into one, or `Ok` if there were none.
    pub fn finish(self) -> syn::Result<()> {
        let mut errors = self.errors.into_iter();
        let Some(mut first) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            first.combine(error);
        }
        Err(first)
    }
}

/// The struct as the derive sees it.
pub struct Model {
    pub ident: Ident,
    /// An unknown key looked like `primary_key`: a missing primary key is
    /// then a knock-on error, not worth reporting.
    pub primary_key_typo: bool,
    pub table: String,
    pub indexes: Vec<StructIndex>,
    pub skip_new: bool,
    pub fields: Vec<Field>,
}

/// `#[orm(index(a, b))]` or `#[orm(unique_index(a, b))]` on the struct.
pub struct StructIndex {
    pub fields: Vec<Ident>,
    pub unique: bool,
}

/// Reads the input. Returns `None` only when there is no struct with named
/// fields to read at all.
pub fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Model> {
    let named = named_fields(input, errors)?;
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Model)] does not support generic structs: a model maps one concrete table",
        ));
    }
    let mut model = Model {
        ident: input.ident.clone(),
        primary_key_typo: false,
        table: default_table_name(&input.ident.to_string()),
        indexes: Vec::new(),
        skip_new: false,
        fields: Vec::new(),
    };
    parse_struct_attrs(input, &mut model, errors);
    for syn_field in &named.named {
        let Some(ident) = syn_field.ident.clone() else {
            continue;
        };
        let mut field = Field {
            kind: FieldKind::of(&syn_field.ty),
            ident,
            ty: syn_field.ty.clone(),
            misplaced: Vec::new(),
        };
        // Every key given, unknown ones too: for "given twice" and the
        // primary key typo.
        let mut keys = Vec::new();
        for attr in syn_field.attrs.iter().filter(|a| a.path().is_ident(ORM)) {
            let result = attr.parse_nested_meta(|meta| {
                parse_field_key(&meta, &mut field, &mut keys, errors);
                Ok(())
            });
            if let Err(e) = result {
                errors.push(e);
            }
        }
        check_relation_not_optional(&field, errors);
        model.primary_key_typo |= keys
            .iter()
            .any(|(k, _)| k != PRIMARY_KEY && edit_distance(k, PRIMARY_KEY) <= 2);
        model.fields.push(field);
    }
    Some(model)
}

/// The struct's named fields, or the error saying why it has none.
fn named_fields<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Option<&'a FieldsNamed> {
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(named),
            Fields::Unnamed(_) => {
                errors.at(
                    input.ident.span(),
                    format!(
                        "#[derive(Model)] needs named fields, and `{}` is a tuple struct; give each field a name (it becomes the column's name)",
                        input.ident
                    ),
                );
                None
            }
            Fields::Unit => {
                errors.at(
                    input.ident.span(),
                    format!(
                        "#[derive(Model)] needs a struct with named fields; `{}` has none (each field becomes a column)",
                        input.ident
                    ),
                );
                None
            }
        },
        Data::Enum(data) => {
            errors.at(
                data.enum_token.span,
                "#[derive(Model)] works on structs, not enums: a model is one table row",
            );
            None
        }
        Data::Union(data) => {
            errors.at(
                data.union_token.span,
                "#[derive(Model)] works on structs, not unions",
            );
            None
        }
    }
}

/// `Option<BelongsTo<T>>` and the like: the relationship types hold their
/// own emptiness.
fn check_relation_not_optional(field: &Field, errors: &mut Errors) {
    let ident = &field.ident;
    if let Some((wrapper, inner)) = generic_of(&field.ty)
        && wrapper == "Option"
        && let Some((relation, _)) = generic_of(&inner)
        && ["BelongsTo", "HasMany", "HasOne", "ManyToMany"].contains(&relation.as_str())
    {
        let hint = if relation == "BelongsTo" {
            format!("write `#[orm(optional)] {ident}: BelongsTo<...>` for a nullable foreign key")
        } else {
            format!(
                "a `{relation}` is already empty when there is nothing to hold; drop the `Option`"
            )
        };
        errors.push(syn::Error::new_spanned(
            &field.ty,
            format!("relationship fields are not wrapped in `Option`: {hint}"),
        ));
    }
}

fn parse_struct_attrs(input: &DeriveInput, model: &mut Model, errors: &mut Errors) {
    for attr in input.attrs.iter().filter(|a| a.path().is_ident(ORM)) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            match key.as_str() {
                TABLE => {
                    if let Some(lit) = string_value(&meta, errors) {
                        model.table = lit.value();
                    }
                }
                INDEX | UNIQUE_INDEX => {
                    let mut fields = Vec::new();
                    let list = meta.parse_nested_meta(|inner| {
                        match inner.path.get_ident() {
                            Some(ident) => fields.push(ident.clone()),
                            None => errors.at(inner.path.span(), "expected a field name"),
                        }
                        Ok(())
                    });
                    match list {
                        Ok(()) if fields.is_empty() => errors.at(
                            meta.path.span(),
                            format!(
                                "`{key}` needs the fields it covers: #[orm({key}(first, second))]"
                            ),
                        ),
                        Ok(()) => model.indexes.push(StructIndex {
                            fields,
                            unique: key == UNIQUE_INDEX,
                        }),
                        Err(_) => errors.at(
                            meta.path.span(),
                            format!("`{key}` takes a list of fields: #[orm({key}(first, second))]"),
                        ),
                    }
                }
                SKIP_NEW => {
                    flag(&meta, errors);
                    model.skip_new = true;
                }
                _ => unknown_key(&meta, &key, STRUCT_KEYS, "struct", errors),
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
}

fn parse_field_key(
    meta: &syn::meta::ParseNestedMeta<'_>,
    field: &mut Field,
    keys: &mut Vec<(String, Span)>,
    errors: &mut Errors,
) {
    let name = path_name(&meta.path);
    let span = meta.path.span();
    if keys.iter().any(|(k, _)| *k == name) {
        errors.at(span, format!("`{name}` is given twice; keep one"));
        skip_value(meta);
        return;
    }
    keys.push((name.clone(), span));
    let Some(key) = FIELD_KEYS.iter().copied().find(|k| *k == name) else {
        unknown_key(meta, &name, FIELD_KEYS, "field", errors);
        return;
    };
    let value = field_value(meta, key, errors);
    if let Err(value) = field.kind.set(key, value) {
        field.misplaced.push(Misplaced { key, span, value });
    }
}

/// Reads a field key's value in the shape that key takes, whatever the
/// field: a malformed value is reported the same on any kind.
fn field_value(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    errors: &mut Errors,
) -> Option<Value> {
    match key {
        COLUMN | DEFAULT | SQL_TYPE | BACK_POPULATES | THROUGH => {
            string_value(meta, errors).map(Value::Text)
        }
        ON_DELETE => {
            let lit = string_value(meta, errors)?;
            let action = match lit.value().to_ascii_lowercase().as_str() {
                "cascade" => OnDelete::Cascade,
                "set null" | "set_null" => OnDelete::SetNull,
                "restrict" => OnDelete::Restrict,
                "no action" | "no_action" => OnDelete::NoAction,
                _ => {
                    errors.at(
                        lit.span(),
                        "unknown `on_delete` action; write \"cascade\", \"set null\", \"restrict\" or \"no action\"",
                    );
                    return None;
                }
            };
            Some(Value::OnDelete(lit, action))
        }
        ORDER_BY => {
            let lit = string_value(meta, errors)?;
            order_terms(&lit, errors).map(|terms| Value::OrderBy(OrderBy { lit, terms }))
        }
        LAZY => {
            let lit = string_value(meta, errors)?;
            match lit.value().as_str() {
                "raise" => Some(Value::Lazy(Some(lit.span()))),
                "select" => Some(Value::Lazy(None)),
                _ => {
                    errors.at(
                        lit.span(),
                        "`lazy` is \"select\" (the default) or \"raise\"",
                    );
                    None
                }
            }
        }
        // The rest are flags.
        _ => flag(meta, errors).then(|| Value::Flag(meta.path.span())),
    }
}

/// The terms of `order_by = "placed_on desc, id"`: names, each optionally
/// followed by `asc` or `desc`.
fn order_terms(lit: &LitStr, errors: &mut Errors) -> Option<Vec<(String, bool)>> {
    let text = lit.value();
    let mut terms = Vec::new();
    for term in text.split(',') {
        let words: Vec<&str> = term.split_whitespace().collect();
        let descending = match words.as_slice() {
            [_] => false,
            [_, dir] if dir.eq_ignore_ascii_case("asc") => false,
            [_, dir] if dir.eq_ignore_ascii_case("desc") => true,
            _ => {
                errors.at(
                    lit.span(),
                    "`order_by` lists fields of the collected model, each optionally followed by `asc` or `desc`: write #[orm(order_by = \"placed_on desc, id\")]",
                );
                return None;
            }
        };
        terms.push((words[0].to_owned(), descending));
    }
    Some(terms)
}

/// A key that takes no value: `#[orm(unique)]`.
fn flag(meta: &syn::meta::ParseNestedMeta<'_>, errors: &mut Errors) -> bool {
    if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
        let key = path_name(&meta.path);
        errors.at(
            meta.path.span(),
            format!("`{key}` takes no value: write #[orm({key})]"),
        );
        skip_value(meta);
        return false;
    }
    true
}

/// A key with a string value: `#[orm(table = "users")]`.
pub fn string_value(meta: &syn::meta::ParseNestedMeta<'_>, errors: &mut Errors) -> Option<LitStr> {
    let key = path_name(&meta.path);
    if !meta.input.peek(syn::Token![=]) {
        errors.at(
            meta.path.span(),
            format!("`{key}` needs a value: write #[orm({key} = \"...\")]"),
        );
        skip_value(meta);
        return None;
    }
    let value = match meta.value() {
        Ok(value) => value,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let expr: syn::Expr = match value.parse() {
        Ok(expr) => expr,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) if lit.value().trim().is_empty() => {
            errors.at(lit.span(), format!("`{key}` cannot be empty"));
            None
        }
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Some(lit),
        other => {
            errors.at(
                other.span(),
                format!("`{key}` takes a string: write #[orm({key} = \"...\")]"),
            );
            None
        }
    }
}

/// Consumes whatever follows a key, so parsing can go on after an error.
pub fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) {
    let _ = meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt
                && p.as_char() == ','
            {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

pub fn unknown_key(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    known: &[&str],
    place: &str,
    errors: &mut Errors,
) {
    let suggestion = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_else(|| format!("; {place} keys are: {}", known.join(", ")));
    errors.at(
        meta.path.span(),
        format!("unknown #[orm] {place} key `{key}`{suggestion}"),
    );
    skip_value(meta);
}

pub fn path_name(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}

/// `Name<Inner>` -> ("Name", Inner).
pub fn generic_of(ty: &Type) -> Option<(String, Type)> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(inner) if args.args.len() == 1 => {
            Some((last.ident.to_string(), inner.clone()))
        }
        _ => None,
    }
}

/// `OrderLine` -> `order_line`.
pub fn snake_case(ident: &str) -> String {
    let mut snake = String::new();
    for (i, ch) in ident.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.extend(ch.to_lowercase());
        } else {
            snake.push(ch);
        }
    }
    snake
}

/// Whether the type is one of the integer types that fit SQLite's INTEGER.
pub fn is_integer(ty: &Type) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    path.path.get_ident().is_some_and(|i| {
        ["i8", "i16", "i32", "i64", "isize", "u8", "u16", "u32"].contains(&i.to_string().as_str())
    })
}

/// The last path segment of a type: `crate::Keyword` -> `Keyword`.
pub fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// `User` -> `users`, `OrderLine` -> `order_lines`: snake case, plural.
fn default_table_name(ident: &str) -> String {
    let mut snake = snake_case(ident);
    if snake.ends_with('s') || snake.ends_with('x') || snake.ends_with("ch") {
        snake.push_str("es");
    } else if snake.ends_with('y') && !snake.ends_with("ay") && !snake.ends_with("ey") {
        snake.pop();
        snake.push_str("ies");
    } else {
        snake.push('s');
    }
    snake
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_snake_case_plurals() {
        assert_eq!(default_table_name("User"), "users");
        assert_eq!(default_table_name("OrderLine"), "order_lines");
        assert_eq!(default_table_name("Category"), "categories");
        assert_eq!(default_table_name("Address"), "addresses");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("primay_key", "primary_key"), 1);
        assert_eq!(edit_distance("uniqe", "unique"), 1);
        assert_eq!(edit_distance("table", "table"), 0);
    }
}
