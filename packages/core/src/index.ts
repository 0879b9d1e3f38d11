export * from './errors';
export { nodeFs, type FsSeam, type FsCall } from './fs/seam';
export { FaultyFs, type FaultRule, type RecordedCall } from './fs/fault-injection';
export { AtomicFile, type AtomicWriteOptions } from './atomic/atomic-file';
export { writeFileAtomic, writeJsonAtomic, type WriteFileAtomicOptions, type WriteJsonAtomicOptions } from './atomic/write-file-atomic';
export { withAtomicFile, createAtomicWriteStream, type AtomicFileHandle } from './atomic/scoped-writer';
export { sweepTempFiles, tempPathFor, type SweepOptions } from './atomic/temp-files';
export { updateJsonAtomic, type UpdateJsonAtomicOptions } from './atomic/update-json-atomic';
export { PidLock, withFileLock, type FileLockOptions } from './lock/pid-lock';
