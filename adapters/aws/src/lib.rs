pub mod dynamo;
