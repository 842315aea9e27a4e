// Module scope runs once per execution environment; it survives warm invocations.
let invocations = 0;

export const handler = async (event, context) => {
  invocations += 1;
  console.log(`hello ${event.name ?? "world"}`);
  return {
    hello: event.name ?? "world",
    function: context.functionName,
    version: context.functionVersion,
    node: process.version,
    invocations_in_this_env: invocations,
  };
};
