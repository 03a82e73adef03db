//! The operation tables the generated API (`eventpulse_generated::api::OPERATIONS`) describes
//! each operation with; the server runtime compiles them into validating endpoints.

/// Where a parameter comes from; also the first segment of its error pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

impl In {
    /// `path` or `query`: the first segment of the parameter's pointer.
    pub fn segment(self) -> &'static str {
        match self {
            In::Path => "path",
            In::Query => "query",
        }
    }
}

/// The JSON type a parameter's string is converted to before validation (from its schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    String,
    Integer,
    Number,
    Boolean,
}

#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub wire: Wire,
    /// The schema's `default` as JSON, used when the parameter is absent.
    pub default: Option<&'static str>,
    /// The parameter's schema as JSON (OpenAPI 3.0 dialect; `$ref`s into the schema document).
    pub schema: &'static str,
}

#[derive(Debug)]
pub struct BodySpec {
    pub required: bool,
    pub schema: &'static str,
}

#[derive(Debug)]
pub struct Operation {
    pub id: &'static str,
    pub method: &'static str,
    /// The route template, e.g. `/v1/uploads/{uploadId}`.
    pub path: &'static str,
    pub secured: bool,
    pub params: &'static [Param],
    pub body: Option<BodySpec>,
}
