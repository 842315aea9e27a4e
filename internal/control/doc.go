// Package control is Hearth's function registry: create, update, publish, alias,
// concurrency and tags, with Lambda's validation and Lambda's errors. It speaks in the
// Lambda API's shapes but knows nothing of HTTP; lambdaapi parses requests into its
// inputs and renders its outputs and errors.
//
// Durable layout (all in NATS JetStream KV, see package store):
//
//	hearth_functions  NAME                 functionRecord: $LATEST, tags, version counter, generation
//	hearth_versions   NAME.GEN.0000000007  versionConfig of a published version
//	hearth_aliases    NAME.GEN.ALIAS       aliasRecord
//	hearth_settings   reserved-concurrency map of NAME → {GEN, N}
//	hearth_settings   async.NAME.GEN       asyncRecord: EventInvokeConfigs by qualifier, recursive loop
//	hearth_mappings   m.UUID               mappingRecord: an event source mapping (mappings.go)
//	hearth_mappings   p.HASH               the UUID of the one mapping of a queue and a function
//	hearth_code       SHA256HEX            the zip (object store)
//
// Every write is a single-key compare-and-set, ordered so that a crash between two
// writes leaves nothing a reader can see in an inconsistent state:
//   - CreateFunction stores the zip first (content-addressed, idempotent), then the
//     function record; a crash in between leaves an unreferenced zip that the code
//     collector removes.
//   - PublishVersion reserves the number in the function record first, then writes the
//     version; a crash in between leaves a gap in the numbering, never a version that
//     two publishes both claim.
//   - Version and alias keys carry the function's generation (a fresh id at each
//     CreateFunction), so a function deleted and created again under the same name
//     never sees the old one's versions or aliases, even those a crash left behind;
//     the collector removes them.
package control
