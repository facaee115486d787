// The README's "Using Chronicle" snippet, verbatim, as a program: DocsSnippetsTests runs it in a
// temporary directory and checks the file it leaves. Change both together.
import Chronicle
import ChronicleSQLite
import Foundation

let store = try SQLiteEventStore(path: "app.sqlite")
let result = try await store.append(
    [EventData(type: "OrderPlaced", payload: Data(#"{"total":42}"#.utf8))],
    to: "order-42",
    expectedVersion: .noStream
)
print(result.version, result.position)   // 1, and the event's place in the global log

for try await event in store.allEvents() {   // the global log, paged, in constant memory
    print(event.position, event.streamID, event.type)
}
