import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { problem, sendProblem, toProblem } from './problem';

export interface ProblemDetailsOptions {
  /**
   * Called with every error that becomes a 5xx response, whose detail the client never sees.
   * @default (error) => console.error(error)
   */
  log?: (error: unknown, req: Request) => void;
}

const DEFAULTS: Required<ProblemDetailsOptions> = {
  log: (error) => console.error(error),
};

/**
 * The error handler: turns filekeep, validation, body-parser and `http-errors` errors into RFC 9457
 * `application/problem+json` responses. Unknown errors become a 500 with a generic detail.
 * Register it after your routes.
 *
 * @example
 * app.use('/expenses', resource(repo.collection('expenses')));
 * app.use(notFound());
 * app.use(problemDetails());
 */
export function problemDetails(options: ProblemDetailsOptions = {}): ErrorRequestHandler {
  const { log } = { ...DEFAULTS, ...options };
  // Four parameters: the router recognises an error handler by its arity.
  return function problemDetails(error: unknown, req: Request, res: Response, next: NextFunction): void {
    const body = toProblem(error);
    if (body.status >= 500) log(error, req);
    // Too late to change the status: let express end the connection.
    if (res.headersSent) return next(error);
    sendProblem(res, body);
  };
}

/**
 * A JSON 404 for requests no route matched. Register it after your routes, before `problemDetails()`.
 *
 * @example
 * app.use(notFound());
 */
export function notFound(): RequestHandler {
  return function notFound(req: Request, res: Response): void {
    sendProblem(res, problem(404, `No route for ${req.method} ${req.path}`));
  };
}
