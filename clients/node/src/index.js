// Control Tower's producer client for Node (and Firebase Cloud Functions). Everything exported
// here is the public API; the modules behind it are not.
export {
  AuthenticationError,
  ConflictError,
  CTError,
  DeliveryError,
  RejectedError,
} from "./errors.js";
export { Producer, VERSION } from "./producer.js";
export { stackRef, withErrorReporting } from "./report.js";
export { sign } from "./signing.js";
export { newUlid } from "./ulid.js";
