//! Stage 3: tokens out. One function per generated surface: the table
//! metadata, the `Model` impl (one function per method: row mapping both
//! ways, relationship wiring), the relationship definitions, the column and
//! relationship constants, the `back_populates` pairing checks, and the
//! constructor. Everything is fenced in `const _: () = { ... };` and names
//! items by absolute paths.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Type;
use syn::ext::IdentExt;

use crate::field::{
    BelongsToAttrs, ChildrenAttrs, ColumnAttrs, Field, FieldKind, LinkAttrs, OnDelete, OrderBy,
    RelationAttrs,
};
use crate::parse::{Model, generic_of, is_integer};
use crate::validate::{Checked, Column, Source};

pub fn expand(checked: &Checked<'_>) -> TokenStream {
    let ident = &checked.model.ident;
    let table = table_def(checked);
    let model_impl = model_impl(checked);
    let definitions = relation_defs(checked);
    let constants = constants(checked);
    let pairing = pairing_checks(checked);
    let constructor = constructor(checked);
    quote! {
        const _: () = {
            #definitions
            #[automatically_derived]
            impl ::orm::Model for #ident {
                #table
                #model_impl
            }
            #[automatically_derived]
            // A program uses some of the generated constants, not all.
            #[allow(dead_code)]
            impl #ident {
                #constants
                #constructor
            }
            #pairing
        };
    }
}

fn is_option(ty: &Type) -> Option<Type> {
    match generic_of(ty) {
        Some((name, inner)) if name == "Option" => Some(inner),
        _ => None,
    }
}

/// The type a column holds: the `T` of `Defaulted<T>`, else the field's.
fn value_type(ty: &Type) -> Type {
    match generic_of(ty) {
        Some((name, inner)) if name == "Defaulted" => inner,
        _ => ty.clone(),
    }
}

fn def_ident(field: &Field) -> Ident {
    format_ident!("__ORM_{}", field.ident.unraw().to_string().to_uppercase())
}

fn upper(ident: &Ident) -> Ident {
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    Ident::new(&name.to_uppercase(), ident.span())
}

/// The link table's columns: `<model>_id` for each end.
fn link_columns(model: &str, other: &Type) -> (String, String) {
    (
        format!("{}_id", crate::parse::snake_case(model)),
        format!(
            "{}_id",
            crate::parse::snake_case(&crate::parse::type_name(other))
        ),
    )
}

/// `const TABLE`: columns, primary key, indexes, link tables.
fn table_def(checked: &Checked<'_>) -> TokenStream {
    let model = checked.model;
    let table = &model.table;
    let model_name = model.ident.to_string();
    let pk_ty = &checked.columns[checked.primary_key].field.ty;
    let columns = checked.columns.iter().map(column_def);
    let primary_key = checked.primary_key;
    let indexes = index_defs(checked);
    let links = link_defs(model);
    let version = match checked
        .columns
        .iter()
        .position(|c| matches!(c.source, Source::Plain(a) if a.version.is_some()))
    {
        Some(i) => quote!(::core::option::Option::Some(#i)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        type Key = #pk_ty;
        const TABLE: &'static ::orm::TableDef = &::orm::TableDef {
            name: #table,
            model: #model_name,
            module: ::core::module_path!(),
            columns: &[#(#columns),*],
            primary_key: #primary_key,
            indexes: &[#(#indexes),*],
            links: &[#(#links),*],
            version: #version,
        };
    }
}

/// One `IndexDef` per `#[orm(index)]` column, then one per struct index.
fn index_defs(checked: &Checked<'_>) -> Vec<TokenStream> {
    let table = &checked.model.table;
    let mut indexes = Vec::new();
    for column in &checked.columns {
        let index = match column.source {
            Source::Plain(c) => c.index,
            Source::ForeignKey(b) => b.index,
        };
        if index.is_some() {
            let name = format!("ix_{table}_{}", column.name);
            let col = &column.name;
            indexes.push(quote! {
                ::orm::IndexDef { name: #name, columns: &[#col], unique: false }
            });
        }
    }
    for index in &checked.model.indexes {
        let cols: Vec<String> = index
            .fields
            .iter()
            .filter_map(|f| checked.columns.iter().find(|c| c.field.ident == *f))
            .map(|c| c.name.clone())
            .collect();
        let name = format!(
            "{}_{table}_{}",
            if index.unique { "ux" } else { "ix" },
            cols.join("_")
        );
        let unique = index.unique;
        indexes.push(quote! {
            ::orm::IndexDef { name: #name, columns: &[#(#cols),*], unique: #unique }
        });
    }
    indexes
}

/// One `LinkDef` per `ManyToMany` field.
fn link_defs(model: &Model) -> Vec<TokenStream> {
    let ident = &model.ident;
    let links = model.fields.iter().filter_map(|field| {
        let FieldKind::ManyToMany(link) = &field.kind else {
            return None;
        };
        let through = link.through.as_ref()?;
        let other = &link.relation.target;
        let (this_column, other_column) = link_columns(&ident.to_string(), other);
        Some(quote! {
            ::orm::LinkDef {
                table: #through,
                columns: [
                    (#this_column, || <#ident as ::orm::Model>::TABLE),
                    (#other_column, || <#other as ::orm::Model>::TABLE),
                ],
            }
        })
    });
    links.collect()
}

fn column_def(column: &Column<'_>) -> TokenStream {
    let field = column.field;
    let name = &column.name;
    let field_name = field.ident.unraw().to_string();
    let primary_key = column.primary_key().is_some();
    let (unique, default, (sql_type, postgres_type, nullable, references)) = match column.source {
        Source::ForeignKey(b) => (b.unique.is_some(), &None, foreign_key_type(b)),
        Source::Plain(c) => (c.unique.is_some(), &c.default, plain_type(c, &field.ty)),
    };
    let default = match default {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        ::orm::ColumnDef {
            name: #name,
            field: #field_name,
            sql_type: #sql_type,
            postgres_type: #postgres_type,
            nullable: #nullable,
            primary_key: #primary_key,
            unique: #unique,
            default: #default,
            references: #references,
        }
    }
}

/// A foreign key's SQL type, nullability and reference: the parent's key.
fn foreign_key_type(b: &BelongsToAttrs) -> (TokenStream, TokenStream, TokenStream, TokenStream) {
    let parent = &b.relation.target;
    let optional = b.optional.is_some();
    let on_delete = match b.on_delete.as_ref().map(|(_, action)| *action) {
        Some(OnDelete::Cascade) => quote!(Cascade),
        Some(OnDelete::SetNull) => quote!(SetNull),
        Some(OnDelete::Restrict) => quote!(Restrict),
        Some(OnDelete::NoAction) | None => quote!(NoAction),
    };
    (
        quote!(<<#parent as ::orm::Model>::Key as ::orm::ColumnType>::SQL_TYPE),
        quote!(::core::option::Option::Some(
            <<#parent as ::orm::Model>::Key as ::orm::ColumnType>::POSTGRES_TYPE
        )),
        quote!(#optional),
        quote! {
            ::core::option::Option::Some(::orm::ForeignKeyDef {
                target: || <#parent as ::orm::Model>::TABLE,
                on_delete: ::orm::OnDelete::#on_delete,
            })
        },
    )
}

/// A plain column's SQL types (SQLite's, PostgreSQL's) and nullability:
/// `sql_type` if given (for both), else what the field's `ColumnType` says.
fn plain_type(c: &ColumnAttrs, ty: &Type) -> (TokenStream, TokenStream, TokenStream, TokenStream) {
    match &c.sql_type {
        Some(lit) => {
            let nullable = is_option(&value_type(ty)).is_some();
            (
                quote!(#lit),
                quote!(::core::option::Option::None),
                quote!(#nullable),
                quote!(::core::option::Option::None),
            )
        }
        None => {
            let span = ty_span(ty);
            let ty = respanned(ty);
            (
                quote_spanned!(span=> <#ty as ::orm::ColumnType>::SQL_TYPE),
                quote_spanned!(span=> ::core::option::Option::Some(
                    <#ty as ::orm::ColumnType>::POSTGRES_TYPE
                )),
                quote_spanned!(span=> <#ty as ::orm::ColumnType>::NULLABLE),
                quote!(::core::option::Option::None),
            )
        }
    }
}

/// The methods of `impl Model`, one function each.
fn model_impl(checked: &Checked<'_>) -> TokenStream {
    let pk = checked.columns[checked.primary_key].field;
    let mut out = TokenStream::new();
    out.extend(key_fn(pk));
    out.extend(set_rowid_fn(pk));
    out.extend(key_unassigned_fn(pk));
    out.extend(column_fn(checked));
    out.extend(set_column_fn(checked));
    // A model without `Defaulted` fields keeps the trait's defaults: no
    // column is ever unset.
    if checked
        .columns
        .iter()
        .any(|c| c.field.defaulted().is_some())
    {
        out.extend(unset_columns_fn(checked));
        out.extend(unset_column_fn(checked));
    }
    out.extend(from_keyed_row_fn(checked));
    // A model without relationships keeps the trait's empty defaults.
    let relations: Vec<&Field> = checked
        .model
        .fields
        .iter()
        .filter(|f| f.kind.relation().is_some())
        .collect();
    if !relations.is_empty() {
        out.extend(wire_fn(&relations));
        out.extend(describe_field_fn(&checked.model.ident, &relations));
        out.extend(for_each_relation_fn(&relations));
    }
    out
}

/// `key`: a clone of the primary key field.
fn key_fn(pk: &Field) -> TokenStream {
    let pk_ident = &pk.ident;
    quote! {
        fn key(&self) -> Self::Key {
            ::core::clone::Clone::clone(&self.#pk_ident)
        }
    }
}

/// `set_rowid`: an integer key takes the rowid SQLite assigned (0 for
/// none); any other key cannot, and says so.
fn set_rowid_fn(pk: &Field) -> TokenStream {
    let pk_ident = &pk.ident;
    let body = if is_integer(&pk.ty) {
        quote! {
            match rowid {
                ::core::option::Option::Some(rowid) => match ::core::convert::TryFrom::try_from(rowid) {
                    ::core::result::Result::Ok(key) => self.#pk_ident = key,
                    ::core::result::Result::Err(_) => return false,
                },
                ::core::option::Option::None => self.#pk_ident = 0,
            }
            true
        }
    } else {
        quote!(let _ = rowid; false)
    };
    quote! {
        fn set_rowid(&mut self, rowid: ::core::option::Option<i64>) -> bool {
            #body
        }
    }
}

/// `key_unassigned`: an integer key of 0 waits for its rowid.
fn key_unassigned_fn(pk: &Field) -> TokenStream {
    let pk_ident = &pk.ident;
    let body = if is_integer(&pk.ty) {
        quote!(self.#pk_ident == 0)
    } else {
        quote!(false)
    };
    quote! {
        fn key_unassigned(&self) -> bool {
            #body
        }
    }
}

/// `column`: each column's value by position, bound for a statement.
fn column_fn(checked: &Checked<'_>) -> TokenStream {
    let arms = checked.columns.iter().enumerate().map(|(i, c)| {
        let f = &c.field.ident;
        match c.source {
            Source::ForeignKey(_) => {
                quote!(#i => ::orm::__private::ForeignKeyColumn::bound(&self.#f),)
            }
            Source::Plain(_) => {
                let ty = &c.field.ty;
                let span = ty_span(ty);
                let ty = respanned(ty);
                quote_spanned!(span=> #i => <#ty as ::orm::ColumnType>::bind(&self.#f),)
            }
        }
    });
    quote! {
        fn column(&self, index: usize) -> ::orm::Bound<'_> {
            match index {
                #(#arms)*
                _ => ::orm::Bound::Ref(::orm::ValueRef::Null),
            }
        }
    }
}

/// `set_column`: writes one column's value back by position.
fn set_column_fn(checked: &Checked<'_>) -> TokenStream {
    let arms = checked.columns.iter().enumerate().map(|(i, c)| {
        let f = &c.field.ident;
        match c.source {
            Source::ForeignKey(_) => quote! {
                #i => ::orm::__private::ForeignKeyColumn::restore(&self.#f, value)?,
            },
            Source::Plain(_) => {
                let ty = &c.field.ty;
                let span = ty_span(ty);
                let ty = respanned(ty);
                quote_spanned!(span=> #i => self.#f = <#ty as ::orm::ColumnType>::from_value(value)?,)
            }
        }
    });
    quote! {
        fn set_column(
            &mut self,
            index: usize,
            value: ::orm::ValueRef<'_>,
        ) -> ::core::result::Result<(), ::orm::FromValueError> {
            match index {
                #(#arms)*
                _ => {}
            }
            ::core::result::Result::Ok(())
        }
    }
}

/// `unset_columns`: the bit of each `Defaulted` column left unset.
fn unset_columns_fn(checked: &Checked<'_>) -> TokenStream {
    let bits = defaulted_columns(checked).map(|(i, f)| {
        quote! {
            if !::orm::Defaulted::is_set(&self.#f) {
                unset |= 1 << #i;
            }
        }
    });
    quote! {
        fn unset_columns(&self) -> u64 {
            let mut unset = 0;
            #(#bits)*
            unset
        }
    }
}

/// `unset_column`: a `Defaulted` column back to unset, by position.
fn unset_column_fn(checked: &Checked<'_>) -> TokenStream {
    let arms =
        defaulted_columns(checked).map(|(i, f)| quote!(#i => self.#f = ::orm::Defaulted::Unset,));
    quote! {
        fn unset_column(&mut self, index: usize) {
            match index {
                #(#arms)*
                _ => {}
            }
        }
    }
}

/// The position and field of each `Defaulted` column.
fn defaulted_columns<'a>(checked: &'a Checked<'_>) -> impl Iterator<Item = (usize, &'a Ident)> {
    checked
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.field.defaulted().is_some())
        .map(|(i, c)| (i, &c.field.ident))
}

/// `from_keyed_row`: the key given, the other columns read by position,
/// relationships unloaded, skipped fields defaulted.
fn from_keyed_row_fn(checked: &Checked<'_>) -> TokenStream {
    let pk = checked.columns[checked.primary_key].field;
    let inits = checked.model.fields.iter().map(|field| {
        let f = &field.ident;
        if field.ident == pk.ident {
            return quote!(#f: key,);
        }
        match &field.kind {
            FieldKind::Column(c) if c.skip.is_some() => {
                quote!(#f: ::core::default::Default::default(),)
            }
            FieldKind::HasMany(_) => quote!(#f: ::orm::HasMany::unloaded(),),
            FieldKind::HasOne(_) => quote!(#f: ::orm::HasOne::unloaded(),),
            FieldKind::ManyToMany(_) => quote!(#f: ::orm::ManyToMany::unloaded(),),
            FieldKind::BelongsTo(_) => {
                let i = position(checked, field);
                quote!(#f: ::orm::BelongsTo::from_key(::orm::ColumnType::read(row, #i)?),)
            }
            FieldKind::Column(_) => {
                let i = position(checked, field);
                let ty = &field.ty;
                let span = ty_span(ty);
                let ty = respanned(ty);
                quote_spanned!(span=> #f: <#ty as ::orm::ColumnType>::read(row, #i)?,)
            }
        }
    });
    quote! {
        fn from_keyed_row<R: ::orm::Row + ?::core::marker::Sized>(
            row: &R,
            key: Self::Key,
        ) -> ::core::result::Result<Self, ::orm::ReadError> {
            ::core::result::Result::Ok(Self {
                #(#inits)*
            })
        }
    }
}

/// `wire`: hands each relationship field its owner.
fn wire_fn(relations: &[&Field]) -> TokenStream {
    let wire = relations.iter().map(|f| {
        let ident = &f.ident;
        quote!(::orm::RelationField::wire(&self.#ident, owner);)
    });
    quote! {
        fn wire(&self, owner: &::orm::__private::Owner) {
            #(#wire)*
        }
    }
}

/// `describe_field`: the description of the relationship field whose
/// bytes hold `offset` (a field asks with an address inside itself).
fn describe_field_fn(model: &Ident, relations: &[&Field]) -> TokenStream {
    let describe = relations.iter().map(|f| {
        let ident = &f.ident;
        let ty = &f.ty;
        let def = def_ident(f);
        quote! {
            if offset.wrapping_sub(::core::mem::offset_of!(#model, #ident))
                < ::core::mem::size_of::<#ty>()
            {
                return <#ty as ::orm::__private::Wire<_>>::describe(&#def, out);
            }
        }
    });
    quote! {
        fn describe_field(offset: usize, out: &mut dyn ::core::any::Any) {
            #(#describe)*
        }
    }
}

/// `for_each_relation`: visits each relationship field.
fn for_each_relation_fn(relations: &[&Field]) -> TokenStream {
    let visit = relations.iter().map(|f| {
        let ident = &f.ident;
        quote!(visit(&self.#ident);)
    });
    quote! {
        fn for_each_relation(&self, visit: &mut dyn FnMut(&dyn ::orm::RelationField)) {
            #(#visit)*
        }
    }
}

/// The span of a type's last token (`Duration` in `std::time::Duration`):
/// stable Rust cannot join spans, and the last token names the type.
fn ty_span(ty: &Type) -> Span {
    quote!(#ty)
        .into_iter()
        .last()
        .map_or_else(Span::call_site, |token| token.span())
}

/// The type's tokens, all spanned at its last token, so that every error
/// about the type points at one place and the compiler reports it once.
fn respanned(ty: &Type) -> TokenStream {
    fn respan(tokens: TokenStream, span: Span) -> TokenStream {
        tokens
            .into_iter()
            .map(|token| match token {
                proc_macro2::TokenTree::Group(group) => {
                    let mut inner =
                        proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                    inner.set_span(span);
                    proc_macro2::TokenTree::Group(inner)
                }
                mut other => {
                    other.set_span(span);
                    other
                }
            })
            .collect()
    }
    respan(quote!(#ty), ty_span(ty))
}

fn position(checked: &Checked<'_>, field: &Field) -> usize {
    checked
        .columns
        .iter()
        .position(|c| c.field.ident == field.ident)
        .unwrap_or(0)
}

/// One `BelongsToDef` / `HasManyDef` const per relationship field, plus the
/// `KeyOf` impl naming the primary key's type.
fn relation_defs(checked: &Checked<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    for field in &checked.model.fields {
        let Some(relation) = field.kind.relation() else {
            continue;
        };
        let lazy = if relation.lazy_raise.is_some() {
            quote!(::orm::Lazy::Raise)
        } else {
            quote!(::orm::Lazy::Select)
        };
        let def = RelationDef {
            model: &checked.model.ident,
            field,
            def: def_ident(field),
            relation,
            lazy,
        };
        out.extend(match &field.kind {
            FieldKind::BelongsTo(_) => belongs_to_def(&def, position(checked, field)),
            FieldKind::HasMany(children) | FieldKind::HasOne(children) => {
                has_many_def(&def, children)
            }
            FieldKind::ManyToMany(link) => many_to_many_def(&def, link),
            FieldKind::Column(_) => TokenStream::new(),
        });
    }
    out
}

/// What every relationship definition is written from.
struct RelationDef<'a> {
    model: &'a Ident,
    field: &'a Field,
    /// The constant's name.
    def: Ident,
    relation: &'a RelationAttrs,
    lazy: TokenStream,
}

impl RelationDef<'_> {
    /// The model's and the field's names, as the def's strings.
    fn names(&self) -> (String, String) {
        (self.model.to_string(), self.field.ident.unraw().to_string())
    }
}

/// `back` of a `BelongsToDef` or `ManyToManyDef`: the accessor of the
/// field that points back, if named, spanned at its name.
fn optional_back(relation: &RelationAttrs, param: &str) -> TokenStream {
    match &relation.back_populates {
        Some(lit) => {
            let target = &relation.target;
            let param = Ident::new(param, lit.span());
            let back = Ident::new(&lit.value(), lit.span());
            quote_spanned!(lit.span()=> ::core::option::Option::Some(|#param: &#target| &#param.#back))
        }
        None => quote!(::core::option::Option::None),
    }
}

fn belongs_to_def(d: &RelationDef<'_>, column: usize) -> TokenStream {
    let RelationDef {
        model: ident,
        def,
        lazy,
        ..
    } = d;
    let f = &d.field.ident;
    let (model_name, field_name) = d.names();
    let parent = &d.relation.target;
    let back = optional_back(d.relation, "parent");
    quote! {
        const #def: ::orm::__private::BelongsToDef<#ident, #parent> = ::orm::__private::BelongsToDef {
            model: #model_name,
            field: #field_name,
            column: #column,
            this: |this: &#ident| &this.#f,
            back: #back,
            lazy: #lazy,
        };
    }
}

/// For `HasMany` and `HasOne` alike; none without `back_populates`
/// (already reported).
fn has_many_def(d: &RelationDef<'_>, children: &ChildrenAttrs) -> TokenStream {
    let Some(lit) = &d.relation.back_populates else {
        return TokenStream::new();
    };
    let RelationDef {
        model: ident,
        def,
        lazy,
        ..
    } = d;
    let f = &d.field.ident;
    let (model_name, field_name) = d.names();
    let child = &d.relation.target;
    let back_field = lit.value();
    let back = Ident::new(&back_field, lit.span());
    let delete_orphan = children.delete_orphan.is_some();
    let back_fn = quote_spanned!(lit.span()=> |child: &#child| &child.#back);
    let (order_by, order_checks) = order_by(d, children.order_by.as_ref());
    quote! {
        const #def: ::orm::__private::HasManyDef<#ident, #child> = ::orm::__private::HasManyDef {
            model: #model_name,
            field: #field_name,
            back_field: #back_field,
            back: #back_fn,
            this: |this: &#ident| &this.#f,
            delete_orphan: #delete_orphan,
            lazy: #lazy,
            order_by: #order_by,
        };
        #order_checks
    }
}

/// An `order_by` as the def's `SortKey` slice, and one compile-time check
/// per name that the collected model has such a field or column (the
/// derive of one model cannot see another's fields, so a constant asks).
fn order_by(d: &RelationDef<'_>, order: Option<&OrderBy>) -> (TokenStream, TokenStream) {
    let Some(order) = order else {
        return (quote!(&[]), TokenStream::new());
    };
    let target = &d.relation.target;
    let target_name = quote!(#target).to_string().replace(' ', "");
    let owner = format!("{}.{}", d.model, d.field.ident.unraw());
    let keys = order.terms.iter().map(|(column, descending)| {
        quote!(::orm::__private::SortKey { column: #column, descending: #descending })
    });
    let checks = order.terms.iter().map(|(column, _)| {
        let message = format!(
            "`order_by` of `{owner}` names `{column}`, which is no field or column of `{target_name}`"
        );
        quote_spanned! {order.lit.span()=>
            const _: () = ::core::assert!(
                ::orm::__private::has_column(<#target as ::orm::Model>::TABLE, #column),
                #message
            );
        }
    });
    (quote!(&[#(#keys),*]), quote!(#(#checks)*))
}

/// None without `through` (already reported).
fn many_to_many_def(d: &RelationDef<'_>, link: &LinkAttrs) -> TokenStream {
    let Some(through) = &link.through else {
        return TokenStream::new();
    };
    let RelationDef {
        model: ident,
        def,
        lazy,
        ..
    } = d;
    let f = &d.field.ident;
    let (model_name, field_name) = d.names();
    let other = &d.relation.target;
    let (this_column, other_column) = link_columns(&model_name, other);
    let back = optional_back(d.relation, "other");
    let (order_by, order_checks) = order_by(d, link.order_by.as_ref());
    quote! {
        #order_checks
        const #def: ::orm::__private::ManyToManyDef<#ident, #other> = ::orm::__private::ManyToManyDef {
            model: #model_name,
            field: #field_name,
            table: #through,
            this_column: #this_column,
            other_column: #other_column,
            this: |this: &#ident| &this.#f,
            back: #back,
            lazy: #lazy,
            order_by: #order_by,
        };
    }
}

/// Column constants, then relationship constants.
fn constants(checked: &Checked<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    for column in &checked.columns {
        out.extend(column_constant(checked.model, column));
    }
    for field in &checked.model.fields {
        out.extend(relation_constant(&checked.model.ident, field));
    }
    out
}

/// `NAME` (or `USER_ID` for a `BelongsTo`): the column, typed by its field
/// (`Option<String>` for a nullable text column).
fn column_constant(model: &Model, column: &Column<'_>) -> TokenStream {
    let ident = &model.ident;
    let field = column.field;
    let name = &column.name;
    let doc = format!(
        "Column `{name}` of `{}`, for filters and ordering.",
        model.table
    );
    let (constant, column_ty) = match column.source {
        Source::ForeignKey(b) => {
            let parent = &b.relation.target;
            let key = quote!(<#parent as ::orm::Model>::Key);
            (
                // From the field, not the column name: a column may be
                // named anything SQL accepts, a constant may not.
                format_ident!("{}_ID", upper(&field.ident), span = field.ident.span()),
                match b.optional {
                    Some(_) => quote!(::core::option::Option<#key>),
                    None => key,
                },
            )
        }
        Source::Plain(_) => {
            // A `Defaulted<T>` field's column holds `T` once the row exists.
            let ty = value_type(&field.ty);
            let span = ty_span(&ty);
            let ty = respanned(&ty);
            (upper(&field.ident), quote_spanned!(span=> #ty))
        }
    };
    let span = ty_span(&field.ty);
    quote_spanned! {span=>
        #[doc = #doc]
        pub const #constant: ::orm::Column<#ident, #column_ty> = ::orm::Column::new(#name);
    }
}

/// Whether a relationship holds one object or many (which query test it takes).
enum Holds {
    ToOne,
    ToMany,
}
use Holds::{ToMany, ToOne};

/// The relationship's constant, for `preload`; none for a relationship
/// whose definition was not written (its mistake is already reported).
fn relation_constant(ident: &Ident, field: &Field) -> TokenStream {
    let (target, shape, make, kind) = match &field.kind {
        FieldKind::BelongsTo(b) => (&b.relation.target, "many-to-one", quote!(belongs_to), ToOne),
        FieldKind::ManyToMany(link) if link.through.is_some() => (
            &link.relation.target,
            "many-to-many",
            quote!(many_to_many),
            ToMany,
        ),
        FieldKind::HasMany(children) if children.relation.back_populates.is_some() => (
            &children.relation.target,
            "one-to-many",
            quote!(has_many),
            ToMany,
        ),
        FieldKind::HasOne(children) if children.relation.back_populates.is_some() => (
            &children.relation.target,
            "one-to-one",
            quote!(has_one),
            ToOne,
        ),
        _ => return TokenStream::new(),
    };
    let (kind, test) = match kind {
        ToOne => (quote!(ToOne), "has"),
        ToMany => (quote!(ToMany), "any"),
    };
    let constant = upper(&field.ident);
    let def = def_ident(field);
    let field_name = field.ident.unraw().to_string();
    let doc = format!(
        "Relationship `{ident}.{field_name}` ({shape}), for `preload`, `join` and `{test}`."
    );
    quote! {
        #[doc = #doc]
        pub const #constant: ::orm::Relation<#ident, #target, ::orm::#kind> = ::orm::Relation::#make(&#def);
    }
}

/// Both sides of a relationship must name each other in `back_populates`.
/// Each model answers `__orm_back_of(field)` with what that relationship
/// field names (`"\0"` for a field that is not one, already reported by the
/// type check of the accessor), and each side with `back_populates` checks
/// the other's answer in a constant: a mismatch fails the build.
fn pairing_checks(checked: &Checked<'_>) -> TokenStream {
    let model = checked.model;
    let ident = &model.ident;
    let answers = model
        .fields
        .iter()
        .filter_map(|f| Some((f, f.kind.relation()?)))
        .map(|(f, relation)| {
            let name = f.ident.unraw().to_string();
            let back = relation
                .back_populates
                .as_ref()
                .map(|l| l.value())
                .unwrap_or_default();
            quote!(if ::orm::__private::str_eq(field, #name) { return #back; })
        });
    let mut out = quote! {
        #[automatically_derived]
        impl #ident {
            #[doc(hidden)]
            pub const fn __orm_back_of(field: &str) -> &'static str {
                #(#answers)*
                "\0"
            }
        }
    };
    for field in &model.fields {
        let Some(relation) = field.kind.relation() else {
            continue;
        };
        let other = &relation.target;
        let Some(lit) = &relation.back_populates else {
            continue;
        };
        let me = field.ident.unraw().to_string();
        let back = lit.value();
        let other_name = crate::parse::type_name(other);
        let message = format!(
            "`{ident}.{me}` names `{other_name}.{back}` in `back_populates`, so `{other_name}.{back}` must name it back: give `{other_name}.{back}` #[orm(back_populates = \"{me}\")]"
        );
        // A panic in a constant is a compile error at the attribute: it never
        // runs in the user's program.
        out.extend(quote_spanned! {lit.span()=>
            const _: () = {
                let answer = <#other>::__orm_back_of(#back);
                if !::orm::__private::str_eq(answer, "\0") && !::orm::__private::str_eq(answer, #me) {
                    ::core::panic!(#message)
                }
            };
        });
    }
    out
}

/// What is emitted next to the errors when the input has mistakes: stubs of
/// what other models' generated code names, so that one broken model does
/// not cause a cascade of secondary errors in the models that use it.
pub fn fallback(input: &syn::DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    let model = ident.to_string();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl ::orm::Model for #ident {
                type Key = i64;
                const TABLE: &'static ::orm::TableDef = &::orm::TableDef {
                    name: #model,
                    model: #model,
                    module: ::core::module_path!(),
                    columns: &[],
                    primary_key: 0,
                    indexes: &[],
                    links: &[],
                    version: ::core::option::Option::None,
                };
                fn key(&self) -> i64 { ::core::unreachable!() }
                fn set_rowid(&mut self, _: ::core::option::Option<i64>) -> bool { ::core::unreachable!() }
                fn key_unassigned(&self) -> bool { ::core::unreachable!() }
                fn column(&self, _: usize) -> ::orm::Bound<'_> { ::core::unreachable!() }
                fn set_column(
                    &mut self,
                    _: usize,
                    _: ::orm::ValueRef<'_>,
                ) -> ::core::result::Result<(), ::orm::FromValueError> {
                    ::core::unreachable!()
                }
                fn from_keyed_row<R: ::orm::Row + ?::core::marker::Sized>(
                    _: &R,
                    _: Self::Key,
                ) -> ::core::result::Result<Self, ::orm::ReadError> {
                    ::core::unreachable!()
                }
            }
            #[automatically_derived]
            impl #ident {
                #[doc(hidden)]
                pub const fn __orm_back_of(_: &str) -> &'static str {
                    "\0"
                }
            }
        };
    }
}

/// `new(...)`: required columns as parameters, everything else defaulted.
fn constructor(checked: &Checked<'_>) -> TokenStream {
    let model = checked.model;
    if model.skip_new {
        return quote!();
    }
    let ident = &model.ident;
    let mut params = Vec::new();
    let mut param_docs = Vec::new();
    let mut inits = Vec::new();
    let mut defaulted = false;
    for field in &model.fields {
        let f = &field.ident;
        let ty = &field.ty;
        let init = match &field.kind {
            FieldKind::Column(c) if c.skip.is_some() => quote!(::core::default::Default::default()),
            FieldKind::HasMany(_) => quote!(::orm::HasMany::new()),
            FieldKind::HasOne(_) => quote!(::orm::HasOne::new()),
            FieldKind::BelongsTo(_) => quote!(::orm::BelongsTo::new()),
            FieldKind::ManyToMany(_) => quote!(::orm::ManyToMany::new()),
            FieldKind::Column(c) if c.primary_key.is_some() && is_integer(ty) => quote!(0),
            // Set to 1 by the insert, then counted up by each update.
            FieldKind::Column(c) if c.version.is_some() => quote!(0),
            // The database chooses, unless the object sets a value.
            FieldKind::Column(_) if field.defaulted().is_some() => {
                defaulted = true;
                quote!(::orm::Defaulted::Unset)
            }
            FieldKind::Column(_) if is_option(ty).is_some() => {
                quote!(::core::option::Option::None)
            }
            FieldKind::Column(_) => {
                params.push(quote!(#f: impl ::core::convert::Into<#ty>));
                param_docs.push(format!("`{f}`"));
                quote!(::core::convert::Into::into(#f))
            }
        };
        inits.push(quote!(#f: #init,));
    }
    let mut doc = if param_docs.is_empty() {
        format!("A new `{ident}` (not yet added to a session).")
    } else {
        format!(
            "A new `{ident}` from {} (not yet added to a session); other fields start empty, and an integer primary key is assigned on insert.",
            param_docs.join(", ")
        )
    };
    if defaulted {
        doc.push_str(" `Defaulted` fields start unset: the insert leaves them to the database's default and reads back what it chose.");
    }
    quote! {
        #[doc = #doc]
        #[allow(clippy::too_many_arguments)]
        pub fn new(#(#params),*) -> Self {
            Self { #(#inits)* }
        }
    }
}
