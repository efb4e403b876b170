//! The `POST /v1/tasks` request body: deserialisation (unknown fields accepted),
//! defaults and validation into a `Task`.

use serde_json::Value;

use crate::backend::Op;
use crate::errors::ApiError;

/// The body of `POST /v1/tasks` (unknown fields are accepted and ignored).
#[derive(Debug, serde::Deserialize)]
pub(super) struct TaskRequest {
    #[serde(rename = "type")]
    pub(super) task_type: String,
    pub(super) input: String,
    #[serde(default)]
    pub(super) op: Op,
    #[serde(default)]
    pub(super) item_id: Option<Value>,
    #[serde(default)]
    pub(super) stream: bool,
    #[serde(default = "one")]
    pub(super) subtasks: u32,
}

fn one() -> u32 {
    1
}

/// A validated task.
pub(super) struct Task {
    pub(super) req: TaskRequest,
    pub(super) item_id: String,
}

pub(super) fn parse_task(body: &[u8]) -> Result<Task, ApiError> {
    let req: TaskRequest = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid task JSON: {e}")))?;
    if !(1..=8).contains(&req.subtasks) {
        return Err(ApiError::bad_request(format!("subtasks must be 1..=8, got {}", req.subtasks)));
    }
    if req.task_type.trim().is_empty() {
        return Err(ApiError::bad_request("type must not be empty"));
    }
    let item_id = match &req.item_id {
        None => "1".to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(ApiError::bad_request(format!("item_id must be a string or number, got {other}")));
        }
    };
    Ok(Task { req, item_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_parsing_defaults_and_errors() {
        let t = parse_task(br#"{"type":"analysis","input":"x","password":"p","extra":{"a":1}}"#).unwrap();
        assert_eq!((t.req.op, t.req.subtasks, t.req.stream, t.item_id.as_str()), (Op::None, 1, false, "1"));
        let t = parse_task(br#"{"type":"analysis","input":"x","op":"read","item_id":42,"subtasks":8}"#).unwrap();
        assert_eq!((t.req.op, t.item_id.as_str()), (Op::Read, "42"));
        for bad in [
            &br#"{"type":"analysis","input":"x","subtasks":9}"#[..],
            br#"{"type":"analysis","input":"x","subtasks":0}"#,
            br#"{"type":"analysis","input":"x","op":"delete"}"#,
            br#"{"input":"x"}"#,
            br#"not json"#,
        ] {
            assert_eq!(parse_task(bad).err().map(|e| e.status.as_u16()), Some(400));
        }
    }
}
