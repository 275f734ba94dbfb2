//! `#[derive(ColumnType)]`: a type of the user's stored in one column.
//! An enum of unit variants is stored as TEXT, each variant as its name (or
//! its `rename`), or with `#[orm(repr = "integer")]` as INTEGER, each
//! variant as its discriminant; a newtype (`struct Email(String);`) is
//! stored as its field's type. Both get `orm::ColumnType` with
//! `type Value = Self`, so a query compares the column with the type
//! itself, and `orm::ToValue`. The model derive needs nothing from it: a
//! field of such a type is a column like any other.
//!
//! The input is read into [`Stored`] with every mistake collected, as the
//! model derive does, and code is written only from input without errors;
//! otherwise the errors come with stub impls ([`fallback`]), so that the
//! fields and queries using the type report nothing more.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DataEnum, DeriveInput, Fields, Ident, LitStr, Type};

use crate::parse::{Errors, path_name, skip_value, snake_case, string_value, unknown_key};
use crate::symbol::*;

/// The impls, or the errors with stub impls.
pub fn derive(input: &DeriveInput) -> TokenStream {
    match try_expand(input) {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(fallback(input));
            tokens
        }
    }
}

fn try_expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let stored = parse(input, &mut errors);
    errors.finish()?;
    match stored {
        Some(stored) => Ok(expand(&stored)),
        None => Err(syn::Error::new_spanned(
            &input.ident,
            "cannot derive ColumnType",
        )),
    }
}

/// The type as the derive sees it.
enum Stored {
    Enum(Enum),
    Newtype(Newtype),
}

/// An enum of unit variants.
struct Enum {
    ident: Ident,
    repr: Repr,
    variants: Vec<Variant>,
}

/// How an enum's variants are stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repr {
    /// As TEXT: each variant's name after renaming.
    Text,
    /// As INTEGER: each variant's discriminant.
    Integer,
}

struct Variant {
    ident: Ident,
    /// The text it is stored as under [`Repr::Text`].
    name: String,
    /// Where that name comes from: the `rename` literal, else the variant.
    name_span: Span,
}

/// `struct Email(String);`: stored as its field.
struct Newtype {
    ident: Ident,
    field: Box<Type>,
}

/// `rename_all = "..."`: the variants' names, respelled.
#[derive(Clone, Copy)]
enum RenameAll {
    Lowercase,
    SnakeCase,
    ScreamingSnakeCase,
}

impl RenameAll {
    const CHOICES: &str = "\"lowercase\", \"snake_case\" or \"SCREAMING_SNAKE_CASE\"";

    fn from_name(name: &str) -> Option<RenameAll> {
        match name {
            "lowercase" => Some(RenameAll::Lowercase),
            "snake_case" => Some(RenameAll::SnakeCase),
            "SCREAMING_SNAKE_CASE" => Some(RenameAll::ScreamingSnakeCase),
            _ => None,
        }
    }

    fn apply(self, variant: &str) -> String {
        match self {
            RenameAll::Lowercase => variant.to_lowercase(),
            RenameAll::SnakeCase => snake_case(variant),
            RenameAll::ScreamingSnakeCase => snake_case(variant).to_uppercase(),
        }
    }
}

/// What an enum's own `#[orm(...)]` says, each setting with its key's span.
#[derive(Default)]
struct EnumAttrs {
    repr: Option<(Span, Repr)>,
    rename_all: Option<(Span, RenameAll)>,
}

/// Reads the input. Returns `None` when there is no enum or newtype to
/// read at all.
fn parse(input: &DeriveInput, errors: &mut Errors) -> Option<Stored> {
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &input.generics,
            "#[derive(ColumnType)] does not support generic types: a column has one concrete type; derive it on a type without parameters, or implement orm::ColumnType by hand",
        ));
    }
    match &input.data {
        Data::Enum(data) => Some(Stored::Enum(parse_enum(input, data, errors))),
        Data::Struct(data) => parse_newtype(input, &data.fields, errors).map(Stored::Newtype),
        Data::Union(data) => {
            errors.at(
                data.union_token.span,
                format!(
                    "`{}` is a union, and #[derive(ColumnType)] takes an enum of unit variants or a newtype (a tuple struct of one field, such as `struct Email(String);`)",
                    input.ident
                ),
            );
            None
        }
    }
}

fn parse_enum(input: &DeriveInput, data: &DataEnum, errors: &mut Errors) -> Enum {
    let ident = &input.ident;
    let attrs = enum_attrs(&input.attrs, errors);
    let repr = attrs.repr.map_or(Repr::Text, |(_, repr)| repr);
    if repr == Repr::Integer
        && let Some((span, _)) = attrs.rename_all
    {
        errors.at(span, names_under_integer(RENAME_ALL, ident));
    }
    if data.variants.is_empty() {
        errors.at(
            ident.span(),
            format!(
                "`{ident}` has no variants, so no value of it could be stored; #[derive(ColumnType)] needs at least one unit variant"
            ),
        );
    }
    let mut variants = Vec::new();
    for variant in &data.variants {
        let variant_ident = &variant.ident;
        if !matches!(variant.fields, Fields::Unit) {
            errors.push(syn::Error::new_spanned(
                &variant.fields,
                format!(
                    "`{variant_ident}` carries data, and #[derive(ColumnType)] stores each variant as one name or number: write `{variant_ident}` alone, or implement orm::ColumnType by hand"
                ),
            ));
        }
        let rename = variant_rename(&variant.attrs, errors);
        if repr == Repr::Integer
            && let Some((span, _)) = &rename
        {
            errors.at(*span, names_under_integer(RENAME, ident));
        }
        let own_name = variant_ident.unraw().to_string();
        let (name, name_span) = match (rename, attrs.rename_all) {
            (Some((_, lit)), _) => (lit.value(), lit.span()),
            (None, Some((_, rule))) => (rule.apply(&own_name), variant_ident.span()),
            (None, None) => (own_name, variant_ident.span()),
        };
        variants.push(Variant {
            ident: variant_ident.clone(),
            name,
            name_span,
        });
    }
    if repr == Repr::Text {
        check_distinct_names(&variants, errors);
    }
    Enum {
        ident: ident.clone(),
        repr,
        variants,
    }
}

/// `rename` or `rename_all` on an enum stored by discriminant.
fn names_under_integer(key: &str, ident: &Ident) -> String {
    format!(
        "`{key}` sets stored text, but `{ident}` is stored as its discriminants (`repr = \"integer\"`): drop `{key}`, or drop `repr` to store the names"
    )
}

fn enum_attrs(attrs: &[Attribute], errors: &mut Errors) -> EnumAttrs {
    let mut settings = EnumAttrs::default();
    let mut given = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(ORM)) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            let span = meta.path.span();
            if given_twice(&meta, &key, &mut given, errors) {
                return Ok(());
            }
            match key.as_str() {
                REPR => {
                    settings.repr = string_value(&meta, errors)
                        .and_then(|lit| repr(&lit, errors))
                        .map(|repr| (span, repr));
                }
                RENAME_ALL => {
                    settings.rename_all = string_value(&meta, errors)
                        .and_then(|lit| rename_all(&lit, errors))
                        .map(|rule| (span, rule));
                }
                RENAME => {
                    errors.at(
                        span,
                        format!(
                            "`rename` goes on a variant; on the enum, `rename_all` respells every name: {}",
                            RenameAll::CHOICES
                        ),
                    );
                    skip_value(&meta);
                }
                _ => unknown_key(&meta, &key, ENUM_KEYS, "enum", errors),
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    settings
}

fn repr(lit: &LitStr, errors: &mut Errors) -> Option<Repr> {
    match lit.value().as_str() {
        "text" => Some(Repr::Text),
        "integer" => Some(Repr::Integer),
        _ => {
            errors.at(
                lit.span(),
                "`repr` is \"text\" (the default: each variant stored as its name) or \"integer\" (each variant stored as its discriminant)",
            );
            None
        }
    }
}

fn rename_all(lit: &LitStr, errors: &mut Errors) -> Option<RenameAll> {
    let rule = RenameAll::from_name(&lit.value());
    if rule.is_none() {
        errors.at(
            lit.span(),
            format!("`rename_all` is {}", RenameAll::CHOICES),
        );
    }
    rule
}

/// A variant's `#[orm(rename = "...")]`: the key's span and the name.
fn variant_rename(attrs: &[Attribute], errors: &mut Errors) -> Option<(Span, LitStr)> {
    let mut rename = None;
    let mut given = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(ORM)) {
        let result = attr.parse_nested_meta(|meta| {
            let key = path_name(&meta.path);
            let span = meta.path.span();
            if given_twice(&meta, &key, &mut given, errors) {
                return Ok(());
            }
            match key.as_str() {
                RENAME => rename = string_value(&meta, errors).map(|lit| (span, lit)),
                REPR | RENAME_ALL => {
                    errors.at(span, format!("`{key}` goes on the enum, not on a variant"));
                    skip_value(&meta);
                }
                _ => unknown_key(&meta, &key, VARIANT_KEYS, "variant", errors),
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    rename
}

/// Whether `key` was already given in this place (reported once here).
fn given_twice(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    given: &mut Vec<String>,
    errors: &mut Errors,
) -> bool {
    if given.iter().any(|k| k == key) {
        errors.at(
            meta.path.span(),
            format!("`{key}` is given twice; keep one"),
        );
        skip_value(meta);
        return true;
    }
    given.push(key.to_owned());
    false
}

/// Two variants stored as one text could not be told apart when read.
fn check_distinct_names(variants: &[Variant], errors: &mut Errors) {
    for (i, variant) in variants.iter().enumerate() {
        if let Some(first) = variants[..i].iter().find(|v| v.name == variant.name) {
            errors.at(
                variant.name_span,
                format!(
                    "`{}` is stored as {:?}, as `{}` is, so the two could not be told apart when read; give one another name with #[orm(rename = \"...\")]",
                    variant.ident, variant.name, first.ident
                ),
            );
        }
    }
}

fn parse_newtype(input: &DeriveInput, fields: &Fields, errors: &mut Errors) -> Option<Newtype> {
    let ident = &input.ident;
    no_keys_on_newtype(&input.attrs, ident, errors);
    match fields {
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
            let field = &unnamed.unnamed[0];
            no_keys_on_newtype(&field.attrs, ident, errors);
            Some(Newtype {
                ident: ident.clone(),
                field: Box::new(field.ty.clone()),
            })
        }
        Fields::Unnamed(unnamed) if unnamed.unnamed.len() > 1 => {
            errors.at(
                fields.span(),
                format!(
                    "`{ident}` has {} fields, and #[derive(ColumnType)] stores a struct as its one field (a newtype, such as `struct Email(String);`): keep one field, or implement orm::ColumnType by hand",
                    unnamed.unnamed.len()
                ),
            );
            None
        }
        Fields::Named(_) => {
            errors.at(
                ident.span(),
                format!(
                    "`{ident}` has named fields, and #[derive(ColumnType)] stores a tuple struct of one field as that field: write `struct {ident}(String);` with your field's type"
                ),
            );
            None
        }
        Fields::Unnamed(_) | Fields::Unit => {
            errors.at(
                ident.span(),
                format!(
                    "`{ident}` has no field to store, and #[derive(ColumnType)] stores a struct as its one field: write `struct {ident}(String);` with the type to store, or make it an enum of unit variants"
                ),
            );
            None
        }
    }
}

/// A newtype is stored exactly as its field: there is nothing to set.
fn no_keys_on_newtype(attrs: &[Attribute], ident: &Ident, errors: &mut Errors) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(ORM)) {
        errors.push(syn::Error::new_spanned(
            attr,
            format!(
                "a newtype takes no #[orm(...)] keys: `{ident}` is stored as its field is; remove the attribute"
            ),
        ));
    }
}

fn expand(stored: &Stored) -> TokenStream {
    let (ident, to_value, column_type) = match stored {
        Stored::Enum(e) => (&e.ident, enum_to_value(e), enum_column_type(e)),
        Stored::Newtype(n) => (&n.ident, newtype_to_value(n), newtype_column_type(n)),
    };
    quote! {
        const _: () = {
            #[automatically_derived]
            impl ::orm::ToValue for #ident {
                fn to_value(&self) -> ::orm::Bound<'_> {
                    #to_value
                }
            }

            #[automatically_derived]
            impl ::orm::ColumnType for #ident {
                #column_type
            }
        };
    }
}

/// The body of `to_value`: the variant's name or discriminant.
fn enum_to_value(e: &Enum) -> TokenStream {
    let idents = e.variants.iter().map(|v| &v.ident);
    match e.repr {
        Repr::Text => {
            let names = e.variants.iter().map(|v| &v.name);
            quote! {
                let name = match self {
                    #(Self::#idents => #names,)*
                };
                ::orm::Bound::Ref(::orm::ValueRef::Text(name))
            }
        }
        Repr::Integer => {
            // A match rather than `*self as i64`, which needs `Copy`.
            let discriminants = e.variants.iter().map(discriminant);
            quote! {
                let discriminant = match self {
                    #(Self::#idents => #discriminants,)*
                };
                ::orm::Bound::Ref(::orm::ValueRef::Integer(discriminant))
            }
        }
    }
}

/// `Self::Variant as i64`: the compiler counts implicit discriminants.
fn discriminant(variant: &Variant) -> TokenStream {
    let ident = &variant.ident;
    quote!(Self::#ident as i64)
}

/// The items of `impl ColumnType`: an unknown stored value is an error
/// that shows it and the values that would have been read.
fn enum_column_type(e: &Enum) -> TokenStream {
    let ident = &e.ident;
    let idents = e.variants.iter().map(|v| &v.ident);
    let (sql_type, arms) = match e.repr {
        Repr::Text => {
            let names = e.variants.iter().map(|v| &v.name);
            let known = e
                .variants
                .iter()
                .map(|v| format!("{:?}", v.name))
                .collect::<Vec<_>>()
                .join(", ")
                .replace('{', "{{")
                .replace('}', "}}");
            let unknown = format!("{{other:?}} is not a `{ident}` (stored as one of {known})");
            let arms = quote! {
                #(::orm::ValueRef::Text(#names) => ::core::result::Result::Ok(Self::#idents),)*
                ::orm::ValueRef::Text(other) => ::core::result::Result::Err(
                    ::orm::FromValueError::Invalid(::std::format!(#unknown)),
                ),
            };
            ("TEXT", arms)
        }
        Repr::Integer => {
            let guards = e.variants.iter().map(discriminant);
            let known = e.variants.iter().map(discriminant);
            let placeholders = vec!["{}"; e.variants.len()].join(", ");
            let unknown = format!("{{other}} is not a `{ident}` (stored as one of {placeholders})");
            let arms = quote! {
                #(::orm::ValueRef::Integer(i) if i == #guards => ::core::result::Result::Ok(Self::#idents),)*
                ::orm::ValueRef::Integer(other) => ::core::result::Result::Err(
                    ::orm::FromValueError::Invalid(::std::format!(#unknown, #(#known),*)),
                ),
            };
            ("INTEGER", arms)
        }
    };
    quote! {
        const SQL_TYPE: &'static str = #sql_type;
        type Value = Self;

        fn from_value(
            value: ::orm::ValueRef<'_>,
        ) -> ::core::result::Result<Self, ::orm::FromValueError> {
            match value {
                #arms
                ::orm::ValueRef::Null => ::core::result::Result::Err(::orm::FromValueError::Null),
                other => ::core::result::Result::Err(::orm::FromValueError::WrongType {
                    expected: #sql_type,
                    found: other.type_name(),
                }),
            }
        }
    }
}

/// Through `ColumnType::bind`, so that a field type that is no column type
/// is reported once, at the field.
fn newtype_to_value(n: &Newtype) -> TokenStream {
    let field = &n.field;
    quote!(<#field as ::orm::ColumnType>::bind(&self.0))
}

/// The items of `impl ColumnType`, each the field type's own.
fn newtype_column_type(n: &Newtype) -> TokenStream {
    let field = &n.field;
    quote! {
        const SQL_TYPE: &'static str = <#field as ::orm::ColumnType>::SQL_TYPE;
        const POSTGRES_TYPE: &'static str = <#field as ::orm::ColumnType>::POSTGRES_TYPE;
        const NULLABLE: bool = <#field as ::orm::ColumnType>::NULLABLE;
        type Value = Self;

        fn from_value(
            value: ::orm::ValueRef<'_>,
        ) -> ::core::result::Result<Self, ::orm::FromValueError> {
            <#field as ::orm::ColumnType>::from_value(value).map(Self)
        }
    }
}

/// Impls that never run, emitted beside the errors so that each use of the
/// type (a model's field, a query) does not report again that it is not a
/// column type. A generic type gets none: its parameters are the mistake.
fn fallback(input: &DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    quote! {
        const _: () = {
            impl ::orm::ToValue for #ident {
                fn to_value(&self) -> ::orm::Bound<'_> {
                    ::orm::Bound::Ref(::orm::ValueRef::Null)
                }
            }

            impl ::orm::ColumnType for #ident {
                const SQL_TYPE: &'static str = "NULL";
                type Value = Self;

                fn from_value(
                    _: ::orm::ValueRef<'_>,
                ) -> ::core::result::Result<Self, ::orm::FromValueError> {
                    ::core::result::Result::Err(::orm::FromValueError::Null)
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    //! The expansion of each form, so that a change to the generated code
    //! is seen in review.

    use super::RenameAll;

    fn expansion(source: &str) -> String {
        let input: syn::DeriveInput = syn::parse_str(source).expect("test input parses");
        let tokens = super::try_expand(&input).expect("test input is valid");
        let file: syn::File = syn::parse2(tokens).expect("expansion parses as a file");
        prettyplease::unparse(&file)
    }

    #[test]
    fn rename_all_respells_variant_names() {
        assert_eq!(RenameAll::Lowercase.apply("InProgress"), "inprogress");
        assert_eq!(RenameAll::SnakeCase.apply("InProgress"), "in_progress");
        assert_eq!(
            RenameAll::ScreamingSnakeCase.apply("InProgress"),
            "IN_PROGRESS"
        );
    }

    #[test]
    fn an_enum_is_stored_as_its_names() {
        let actual = expansion(
            r#"
            #[orm(rename_all = "snake_case")]
            enum Status { Open, #[orm(rename = "done")] Closed }"#,
        );
        assert_eq!(actual, TEXT_ENUM, "{actual}");
    }

    #[test]
    fn an_integer_enum_is_stored_as_its_discriminants() {
        let actual = expansion(
            r#"
            #[orm(repr = "integer")]
            enum Priority { Low = 1, High }"#,
        );
        assert_eq!(actual, INTEGER_ENUM, "{actual}");
    }

    #[test]
    fn a_newtype_is_stored_as_its_field() {
        let actual = expansion("struct Cents(i64);");
        assert_eq!(actual, NEWTYPE, "{actual}");
    }

    // After a deliberate change, paste the new expansion from the failure
    // message and review the diff.
    const TEXT_ENUM: &str = r#"const _: () = {
    #[automatically_derived]
    impl ::orm::ToValue for Status {
        fn to_value(&self) -> ::orm::Bound<'_> {
            let name = match self {
                Self::Open => "open",
                Self::Closed => "done",
            };
            ::orm::Bound::Ref(::orm::ValueRef::Text(name))
        }
    }
    #[automatically_derived]
    impl ::orm::ColumnType for Status {
        const SQL_TYPE: &'static str = "TEXT";
        type Value = Self;
        fn from_value(
            value: ::orm::ValueRef<'_>,
        ) -> ::core::result::Result<Self, ::orm::FromValueError> {
            match value {
                ::orm::ValueRef::Text("open") => ::core::result::Result::Ok(Self::Open),
                ::orm::ValueRef::Text("done") => ::core::result::Result::Ok(Self::Closed),
                ::orm::ValueRef::Text(other) => {
                    ::core::result::Result::Err(
                        ::orm::FromValueError::Invalid(
                            ::std::format!(
                                "{other:?} is not a `Status` (stored as one of \"open\", \"done\")"
                            ),
                        ),
                    )
                }
                ::orm::ValueRef::Null => {
                    ::core::result::Result::Err(::orm::FromValueError::Null)
                }
                other => {
                    ::core::result::Result::Err(::orm::FromValueError::WrongType {
                        expected: "TEXT",
                        found: other.type_name(),
                    })
                }
            }
        }
    }
};
"#;
    const INTEGER_ENUM: &str = r#"const _: () = {
    #[automatically_derived]
    impl ::orm::ToValue for Priority {
        fn to_value(&self) -> ::orm::Bound<'_> {
            let discriminant = match self {
                Self::Low => Self::Low as i64,
                Self::High => Self::High as i64,
            };
            ::orm::Bound::Ref(::orm::ValueRef::Integer(discriminant))
        }
    }
    #[automatically_derived]
    impl ::orm::ColumnType for Priority {
        const SQL_TYPE: &'static str = "INTEGER";
        type Value = Self;
        fn from_value(
            value: ::orm::ValueRef<'_>,
        ) -> ::core::result::Result<Self, ::orm::FromValueError> {
            match value {
                ::orm::ValueRef::Integer(i) if i == Self::Low as i64 => {
                    ::core::result::Result::Ok(Self::Low)
                }
                ::orm::ValueRef::Integer(i) if i == Self::High as i64 => {
                    ::core::result::Result::Ok(Self::High)
                }
                ::orm::ValueRef::Integer(other) => {
                    ::core::result::Result::Err(
                        ::orm::FromValueError::Invalid(
                            ::std::format!(
                                "{other} is not a `Priority` (stored as one of {}, {})",
                                Self::Low as i64, Self::High as i64
                            ),
                        ),
                    )
                }
                ::orm::ValueRef::Null => {
                    ::core::result::Result::Err(::orm::FromValueError::Null)
                }
                other => {
                    ::core::result::Result::Err(::orm::FromValueError::WrongType {
                        expected: "INTEGER",
                        found: other.type_name(),
                    })
                }
            }
        }
    }
};
"#;
    const NEWTYPE: &str = r#"const _: () = {
    #[automatically_derived]
    impl ::orm::ToValue for Cents {
        fn to_value(&self) -> ::orm::Bound<'_> {
            <i64 as ::orm::ColumnType>::bind(&self.0)
        }
    }
    #[automatically_derived]
    impl ::orm::ColumnType for Cents {
        const SQL_TYPE: &'static str = <i64 as ::orm::ColumnType>::SQL_TYPE;
        const POSTGRES_TYPE: &'static str = <i64 as ::orm::ColumnType>::POSTGRES_TYPE;
        const NULLABLE: bool = <i64 as ::orm::ColumnType>::NULLABLE;
        type Value = Self;
        fn from_value(
            value: ::orm::ValueRef<'_>,
        ) -> ::core::result::Result<Self, ::orm::FromValueError> {
            <i64 as ::orm::ColumnType>::from_value(value).map(Self)
        }
    }
};
"#;
}
