// A CommonJS callback handler for Hearth's invoke e2e tests.
let count = 0; // module scope: once per execution environment

const LAMBDA_VARS = [
  'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_REGION', 'AWS_EXECUTION_ENV',
  '_HANDLER', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR', 'AWS_LAMBDA_RUNTIME_API', 'TZ', 'PATH',
  'LD_LIBRARY_PATH', 'MY_VAR', 'OTHER_VAR',
];

exports.handler = function (event, context, callback) {
  count += 1;
  const action = event.action || 'echo';
  if (event.marker) console.log('MARKER ' + event.marker);
  if (action === 'echo') {
    const env = {};
    for (const k of LAMBDA_VARS) if (k in process.env) env[k] = process.env[k];
    // Answer from a later tick, as callback-style code does.
    setTimeout(() => callback(null, {
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
        client_custom: context.clientContext ? (context.clientContext.custom || null) : null,
      },
      env,
    }), 1);
    return;
  }
  if (action === 'fail') {
    callback(new Error('callback failure: ' + (event.marker || '')));
    return;
  }
  callback(new Error('unknown action ' + action));
};
