// events.js: the Socket.io event names, client → server and server → client, exactly as the
// server defines them (src/signaling/protocol.rs; docs/reference/protocol.md describes each).
// The room page and the mesh use these constants, never the strings; tests/it/architecture.rs
// checks both lists against the server's and that the page spells no event name by hand.

export const CLIENT = Object.freeze({
  OFFER: 'offer',
  ANSWER: 'answer',
  ICE_CANDIDATE: 'ice-candidate',
  CHAT_MESSAGE: 'chat-message',
  MEDIA_STATE: 'media-state',
  RAISE_HAND: 'raise-hand',
  LOWER_HAND: 'lower-hand',
  START_PRESENTING: 'start-presenting',
  STOP_PRESENTING: 'stop-presenting',
  START_TIMER: 'start-timer',
  PAUSE_TIMER: 'pause-timer',
  RESUME_TIMER: 'resume-timer',
  RESET_TIMER: 'reset-timer',
  SKIP_TIMER: 'skip-timer',
  KICK_PARTICIPANT: 'kick-participant',
  END_ROOM: 'end-room',
  TRANSFER_HOST: 'transfer-host',
  CLAIM_HOST: 'claim-host',
  HOST_LINK: 'host-link',
  MAKE_STANDING: 'make-standing',
  LEAVE_ROOM: 'leave-room',
  CLOCK: 'clock',
  SET_GOAL: 'set-goal',
  CLEAR_GOAL: 'clear-goal',
  CHECK_IN: 'check-in',
});

export const SERVER = Object.freeze({
  ROOM_JOINED: 'room-joined',
  USER_JOINED: 'user-joined',
  USER_LEFT: 'user-left',
  PARTICIPANT_PENDING: 'participant-pending',
  CHAT_MESSAGE: 'chat-message',
  MEDIA_STATE: 'media-state',
  HAND_RAISED: 'hand-raised',
  PRESENTER_CHANGED: 'presenter-changed',
  TIMER_UPDATE: 'timer-update',
  KICKED: 'kicked',
  ROOM_ENDED: 'room-ended',
  HOST_CHANGED: 'host-changed',
  ROOM_UPDATED: 'room-updated',
  SESSION_REPLACED: 'session-replaced',
  SERVER_RESTARTING: 'server-restarting',
  ERROR: 'error',
  GOAL_UPDATED: 'goal-updated',
  CHECK_IN_REQUESTED: 'check-in-requested',
});
