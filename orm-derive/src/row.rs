//! `#[derive(FromRow)]`: a plain struct read from a result row, field by
//! field in declaration order. It generates `orm::FromRow` (for
//! `Session::sql_values`) and `From<(field types...)>` (for a query's
//! `select(...).all_as::<S>()`), so the struct's fields must match the
//! selected columns in order and type: a mismatch does not compile.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, spanned::Spanned};

/// The impls, or the error explaining why there are none.
pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "`FromRow` cannot be derived for a generic struct; name the field types",
        ));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            ident,
            "`FromRow` is derived for a struct whose fields are the columns of a row, not for an enum or union",
        ));
    };
    if data.fields.is_empty() {
        return Err(syn::Error::new_spanned(
            ident,
            "`FromRow` needs at least one field: one per column of the row",
        ));
    }
    if data.fields.len() > 12 {
        return Err(syn::Error::new(
            data.fields.span(),
            "`FromRow` reads at most 12 columns, as tuples do",
        ));
    }
    let types: Vec<_> = data.fields.iter().map(|f| &f.ty).collect();
    let vars: Vec<_> = (0..types.len()).map(|i| format_ident!("c{i}")).collect();
    let indexes = 0..types.len();
    let count = types.len();
    let build = match &data.fields {
        Fields::Named(fields) => {
            let names = fields.named.iter().map(|f| &f.ident);
            quote!(#ident { #(#names: #vars),* })
        }
        _ => quote!(#ident ( #(#vars),* )),
    };
    Ok(quote! {
        const _: () = {
            #[automatically_derived]
            impl ::core::convert::From<( #(#types,)* )> for #ident {
                fn from(( #(#vars,)* ): ( #(#types,)* )) -> Self {
                    #build
                }
            }

            #[automatically_derived]
            impl ::orm::FromRow for #ident {
                const COLUMNS: usize = #count;

                fn from_row<R: ::orm::Row + ?::core::marker::Sized>(
                    row: &R,
                ) -> ::core::result::Result<Self, ::orm::ReadError> {
                    #(let #vars = <#types as ::orm::ColumnType>::read(row, #indexes)?;)*
                    ::core::result::Result::Ok(#build)
                }
            }
        };
    })
}
