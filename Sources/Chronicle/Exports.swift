// ChronicleJSONEncoder and ChronicleJSONDecoder, JSONEventCodec's default payload coders, were
// Chronicle's own types before they got their module; re-export them so `import Chronicle` keeps
// bringing them.
@_exported import ChronicleJSON
