export { filekeep, forRequest, type FilekeepOptions, type FilekeepCollections, type RegisteredCollections } from './middleware';
export { problemDetails, notFound, type ProblemDetailsOptions } from './problem-details';
export { STATUS_BY_CODE, toProblem, sendProblem, issuePath, type Problem, type ProblemIssue } from './problem';
export { validate, compileSchema, type RequestSchemas } from './validate';
export { HttpError, PreconditionFailedError, UnsupportedMediaTypeError, RequestValidationError, type RequestPart, type RequestValidationIssue } from './errors';
export { resource, type ResourceOptions } from './resource';
export { etagOf, ifMatch } from './preconditions';
export { gracefulShutdown, type GracefulShutdownOptions, type ShutdownHandle, type Closable } from './graceful-shutdown';
export { jsonBody, type JsonBodyOptions } from './json-body';
