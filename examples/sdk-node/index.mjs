// Invoke another function with the AWS SDK for JavaScript v3 the runtime bundles, as
// on AWS: no endpoint and no credentials in the code. Hearth sets
// AWS_ENDPOINT_URL_LAMBDA and the execution role's credentials in the environment.
//
//   aws lambda invoke --function-name caller --payload '{"target":"other"}' out.json
import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda';

// Module scope: made once per execution environment, reused by warm invocations.
const lam = new LambdaClient({});

export const handler = async (event) => {
  if (!event.target) return { sdk: 'v3' };
  const t0 = performance.now();
  const r = await lam.send(new InvokeCommand({
    FunctionName: event.target,
    Payload: new TextEncoder().encode(JSON.stringify(event.payload ?? {})),
  }));
  return {
    status: r.StatusCode,
    invoke_ms: performance.now() - t0,
    payload: JSON.parse(new TextDecoder().decode(r.Payload)),
  };
};
