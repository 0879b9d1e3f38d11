import { stopFsWorker } from '@filekeep/core';

// Jest loads a fresh copy of filekeep for every test file, and each copy starts its own fs worker
// thread. Stopped here, they do not pile up in a jest worker process: a dozen of them, torn down
// at its exit, sometimes outlasted jest's 500 ms ("A worker process has failed to exit gracefully").
afterAll(() => stopFsWorker());
