// The `chronicle` executable: the commands of ChronicleCommandLine, with no read models
// registered (projection status and parked events are read from their files; rebuilds and
// retries run from an application that registers its projectors).
import ChronicleCommandLine

await ChronicleCommandLine.main()
