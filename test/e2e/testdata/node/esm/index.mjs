// An ES module async handler for Hearth's invoke e2e tests.
let count = 0; // module scope: once per execution environment

const LAMBDA_VARS = [
  'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_REGION', 'AWS_EXECUTION_ENV',
  '_HANDLER', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR', 'AWS_LAMBDA_RUNTIME_API', 'TZ', 'PATH',
  'LD_LIBRARY_PATH', 'MY_VAR', 'OTHER_VAR',
];

export const handler = async (event, context) => {
  count += 1;
  const action = event.action ?? 'echo';
  if (event.marker) console.log(`MARKER ${event.marker}`);
  switch (action) {
    case 'echo': {
      const env = {};
      for (const k of LAMBDA_VARS) if (k in process.env) env[k] = process.env[k];
      return {
        event,
        count,
        ctx: {
          request_id: context.awsRequestId,
          function_name: context.functionName,
          function_version: context.functionVersion,
          invoked_arn: context.invokedFunctionArn,
          memory_limit: String(context.memoryLimitInMB),
          log_group: context.logGroupName,
          log_stream: context.logStreamName,
          remaining_ms: context.getRemainingTimeInMillis(),
          client_custom: context.clientContext ? context.clientContext.custom ?? null : null,
        },
        env,
      };
    }
    case 'throw':
      throw new Error(`boom: ${event.marker ?? ''}`);
    case 'sleep':
      await new Promise((r) => setTimeout(r, event.seconds * 1000));
      return { count, log_stream: context.logStreamName };
    default:
      throw new Error(`unknown action ${action}`);
  }
};
