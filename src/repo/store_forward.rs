//! Pass-through methods for the repository's `ObjectStore` decorators (`uncached_writes`,
//! `object_lock`, `pack_spill`): each changes a few methods of the store it wraps and hands
//! the others on unchanged. [`forward_store_methods!`] writes those hand-ons, so a decorator's
//! impl holds only what it changes plus one line naming what it passes through.

/// Writes the named `ObjectStore` methods as calls of the same method of `self.$field` (a
/// store), inside an `#[async_trait] impl ObjectStore` block beside the methods the decorator
/// changes:
///
/// ```text
/// #[async_trait]
/// #[deny(clippy::missing_trait_methods)]
/// impl ObjectStore for Decorator {
///     async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> { .. }
///     forward_store_methods!(inner => put_opts, put_multipart_opts, get_ranges, delete_stream,
///         list, list_with_offset, list_with_delimiter, copy_opts, rename_opts);
/// }
/// ```
///
/// The async methods are written in the form `#[async_trait]` gives them (a boxed future
/// borrowing the arguments), returning the wrapped store's future as it is: no second box.
/// `#[deny(clippy::missing_trait_methods)]` on the impl keeps every method of the trait either
/// written or named here (a method left to the trait's default would bypass the decorator).
macro_rules! forward_store_methods {
    ($field:ident => $($method:ident),+ $(,)?) => {
        $( $crate::repo::store_forward::forward_store_methods!(@one $field $method); )+
    };
    (@one $f:ident put_opts) => {
        fn put_opts<'s, 'l, 'f>(
            &'s self,
            location: &'l ::object_store::path::Path,
            payload: ::object_store::PutPayload,
            opts: ::object_store::PutOptions,
        ) -> ::futures::future::BoxFuture<'f, ::object_store::Result<::object_store::PutResult>>
        where
            's: 'f,
            'l: 'f,
            Self: 'f,
        {
            self.$f.put_opts(location, payload, opts)
        }
    };
    (@one $f:ident put_multipart_opts) => {
        fn put_multipart_opts<'s, 'l, 'f>(
            &'s self,
            location: &'l ::object_store::path::Path,
            opts: ::object_store::PutMultipartOptions,
        ) -> ::futures::future::BoxFuture<
            'f,
            ::object_store::Result<Box<dyn ::object_store::MultipartUpload>>,
        >
        where
            's: 'f,
            'l: 'f,
            Self: 'f,
        {
            self.$f.put_multipart_opts(location, opts)
        }
    };
    (@one $f:ident get_opts) => {
        fn get_opts<'s, 'l, 'f>(
            &'s self,
            location: &'l ::object_store::path::Path,
            options: ::object_store::GetOptions,
        ) -> ::futures::future::BoxFuture<'f, ::object_store::Result<::object_store::GetResult>>
        where
            's: 'f,
            'l: 'f,
            Self: 'f,
        {
            self.$f.get_opts(location, options)
        }
    };
    (@one $f:ident get_ranges) => {
        fn get_ranges<'s, 'l, 'r, 'f>(
            &'s self,
            location: &'l ::object_store::path::Path,
            ranges: &'r [::std::ops::Range<u64>],
        ) -> ::futures::future::BoxFuture<'f, ::object_store::Result<Vec<::bytes::Bytes>>>
        where
            's: 'f,
            'l: 'f,
            'r: 'f,
            Self: 'f,
        {
            self.$f.get_ranges(location, ranges)
        }
    };
    (@one $f:ident delete_stream) => {
        fn delete_stream(
            &self,
            locations: ::futures::stream::BoxStream<
                'static,
                ::object_store::Result<::object_store::path::Path>,
            >,
        ) -> ::futures::stream::BoxStream<'static, ::object_store::Result<::object_store::path::Path>>
        {
            self.$f.delete_stream(locations)
        }
    };
    (@one $f:ident list) => {
        fn list(
            &self,
            prefix: Option<&::object_store::path::Path>,
        ) -> ::futures::stream::BoxStream<'static, ::object_store::Result<::object_store::ObjectMeta>>
        {
            self.$f.list(prefix)
        }
    };
    (@one $f:ident list_with_offset) => {
        fn list_with_offset(
            &self,
            prefix: Option<&::object_store::path::Path>,
            offset: &::object_store::path::Path,
        ) -> ::futures::stream::BoxStream<'static, ::object_store::Result<::object_store::ObjectMeta>>
        {
            self.$f.list_with_offset(prefix, offset)
        }
    };
    (@one $f:ident list_with_delimiter) => {
        fn list_with_delimiter<'s, 'l, 'f>(
            &'s self,
            prefix: Option<&'l ::object_store::path::Path>,
        ) -> ::futures::future::BoxFuture<'f, ::object_store::Result<::object_store::ListResult>>
        where
            's: 'f,
            'l: 'f,
            Self: 'f,
        {
            self.$f.list_with_delimiter(prefix)
        }
    };
    (@one $f:ident copy_opts) => {
        fn copy_opts<'s, 'a, 'b, 'f>(
            &'s self,
            from: &'a ::object_store::path::Path,
            to: &'b ::object_store::path::Path,
            options: ::object_store::CopyOptions,
        ) -> ::futures::future::BoxFuture<'f, ::object_store::Result<()>>
        where
            's: 'f,
            'a: 'f,
            'b: 'f,
            Self: 'f,
        {
            self.$f.copy_opts(from, to, options)
        }
    };
    (@one $f:ident rename_opts) => {
        fn rename_opts<'s, 'a, 'b, 'f>(
            &'s self,
            from: &'a ::object_store::path::Path,
            to: &'b ::object_store::path::Path,
            options: ::object_store::RenameOptions,
        ) -> ::futures::future::BoxFuture<'f, ::object_store::Result<()>>
        where
            's: 'f,
            'a: 'f,
            'b: 'f,
            Self: 'f,
        {
            self.$f.rename_opts(from, to, options)
        }
    };
}
pub(crate) use forward_store_methods;
