// room.js: one room's page, the entry point: reads the address (a room code, or a standing
// room's /r/<slug>, with a host link's key), opens the lobby or, for a tab that is already in
// the room, the room itself, and wires the page's controls and keyboard shortcuts to the
// modules in room/: shared.js (elements and state), views.js (notices, lobby, entering),
// live.js (the Socket.io connection and endings), people.js (participants, hands, host tools),
// timer-ui.js (the shared timer, chime, notifications), goals.js (goals and check-ins on the
// timer's work blocks), focus.js (focus rules and status), chat.js (chat, unread counts, emoji) and calls.js (camera, microphone, calls, screen sharing, invite and transcript).

import { CLIENT } from './events.js';
import { api, loadSession, normalizeCode, read, write } from './api.js';
import { placeIcons } from './icons.js';
import { installShortcuts } from './shortcuts.js';
import { showOnly } from './ui.js';
import { copyInvite, endCall, exportTranscript, onMediaChange, renderDevices, retryDevices, stopShare, toggleAudio, toggleShare, toggleVideo, toggleView } from './room/calls.js';
import { buildEmojiPanel, insertEmoji, loadOlder, markRead, onPanelChange, openChat, sendMessage, setEmojiOpen } from './room/chat.js';
import { changeRule, onVisibility, pickStatus } from './room/focus.js';
import { answerCheckIn, carryOver, clearGoal, hideCheckIn, submitGoal } from './room/goals.js';
import { endRoom, leaveRoom, stopLive } from './room/live.js';
import { copyHostLink, hostKeyKey, lowerHands, makeStanding, participantAction, renderInviteCard, shareInvite, toggleHand } from './room/people.js';
import { call, el, live, media, panels, state, views } from './room/shared.js';
import { askNotify, audio, timerCommand } from './room/timer-ui.js';
import { enterRoom, joinAsSomeoneElse, joinRoom, noticeForRoomError, resumeSession, showLobby, showNotice } from './room/views.js';

// ---- start -----------------------------------------------------------------------------------

async function init(focus = false) {
  stopLive();
  endCall();
  el.loading.hidden = false;
  showOnly(views, null);

  const [, kind, segment = ''] = window.location.pathname.split('/');
  // A host link carries its key in the fragment: kept for this tab until the room is joined,
  // and taken off the address bar.
  const hostKey = /^#host=([A-Za-z0-9_-]{16,64})$/.exec(window.location.hash);
  if (hostKey) window.history.replaceState(null, '', window.location.pathname);

  try {
    if (kind === 'r') {
      // A standing room's readable link: /r/<slug>.
      state.room = await api('GET', `/api/slugs/${encodeURIComponent(segment)}`);
      state.code = state.room.code;
    } else {
      state.code = normalizeCode(segment);
      if (!state.code) {
        showNotice('Not a room code', 'This address does not contain a valid FlowSync room code. Codes are 6 '
          + 'characters and never use 0, O, 1, I or L.', { focus });
        return;
      }
      if (segment !== state.code) window.history.replaceState(null, '', `/room/${state.code}`);
      state.room = await api('GET', `/api/rooms/${state.code}`);
    }
  } catch (err) {
    if (kind === 'r' && (err.code === 'ROOM_NOT_FOUND' || err.status === 404)) {
      showNotice('Room not found', `No room has the link /r/${segment}. Check the link, or ask for a new one.`, { focus });
    } else if (!noticeForRoomError(err, focus)) {
      showNotice("Couldn't open the room", err.message, { retry: true, focus });
    }
    return;
  }
  if (hostKey) write(sessionStorage, hostKeyKey(state.code), hostKey[1]);

  state.session = loadSession(state.code);
  if (state.session?.tab) enterRoom();
  else showLobby('', focus);
}

el.noticeRetry.addEventListener('click', () => init(true));
el.joinForm.addEventListener('submit', joinRoom);
el.resumeButton.addEventListener('click', resumeSession);
el.standingButton.addEventListener('click', makeStanding);
el.hostLinkButton.addEventListener('click', () => copyHostLink(false));
el.hostLinkRotate.addEventListener('click', () => copyHostLink(true));
el.resumeOther.addEventListener('click', joinAsSomeoneElse);
el.chatForm.addEventListener('submit', sendMessage);
el.goalForm.addEventListener('submit', submitGoal);
el.goalClear.addEventListener('click', clearGoal);
el.goalCarry.addEventListener('click', carryOver);
el.checkinOutcomes.addEventListener('click', answerCheckIn);
el.checkinHide.addEventListener('click', hideCheckIn);
el.statusSelect.addEventListener('change', pickStatus);
el.focusRules.addEventListener('change', changeRule);
document.addEventListener('visibilitychange', onVisibility);
el.chatInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (typeof el.chatForm.requestSubmit === 'function') el.chatForm.requestSubmit();
    else el.chatForm.dispatchEvent(new Event('submit', { cancelable: true }));
  }
});
el.olderButton.addEventListener('click', loadOlder);
el.copyButton.addEventListener('click', () => copyInvite());
el.inviteLink.addEventListener('focus', () => el.inviteLink.select());
el.inviteCardCopy.addEventListener('click', () => copyInvite(el.inviteCardLink, el.inviteCardStatus));
el.inviteCardLink.addEventListener('focus', () => el.inviteCardLink.select());
el.inviteCardShare.addEventListener('click', shareInvite);
el.inviteCardHide.addEventListener('click', () => {
  live.inviteDismissed = true;
  renderInviteCard();
  el.micButton.focus();
});
el.handsQueue.addEventListener('click', lowerHands);
el.handsLowerAll.addEventListener('click', lowerHands);
el.handSound.checked = read(localStorage, 'flowsync:hand-sound') !== 'off';
el.handSound.addEventListener('change', () => write(localStorage, 'flowsync:hand-sound', el.handSound.checked ? null : 'off'));
el.deviceRetry.addEventListener('click', retryDevices);
el.timerMini.addEventListener('click', () => {
  // On a phone the full timer (and the host's controls) sits with People.
  panels.show('people');
  el.timerTitle.focus();
});
el.helpButton.addEventListener('click', () => el.helpDialog.showModal());
installShortcuts({
  active: () => !el.room.hidden,
  keys: {
    m: toggleAudio,
    v: toggleVideo,
    h: toggleHand,
    c: openChat,
    p: () => panels.show('people', { focus: true }),
    '?': () => el.helpDialog.showModal(),
  },
  // Esc closes the Devices menu or the emoji list (a dialog closes itself), focus goes back.
  escape: () => {
    if (el.devices.open) {
      el.devices.open = false;
      el.devices.querySelector('summary').focus();
      return true;
    }
    if (!el.emojiPanel.hidden) {
      setEmojiOpen(false);
      el.emojiButton.focus();
      return true;
    }
    return false;
  },
});
el.exportButton.addEventListener('click', exportTranscript);
el.handButton.addEventListener('click', toggleHand);
el.leaveButton.addEventListener('click', leaveRoom);
el.endButton.addEventListener('click', endRoom);
el.participants.addEventListener('click', participantAction);
el.timerStart.addEventListener('click', () => timerCommand(CLIENT.START_TIMER, el.timerStart, 'Starting…'));
el.timerPause.addEventListener('click', () => timerCommand(CLIENT.PAUSE_TIMER, el.timerPause, 'Pausing…'));
el.timerResume.addEventListener('click', () => timerCommand(CLIENT.RESUME_TIMER, el.timerResume, 'Resuming…'));
el.timerSkip.addEventListener('click', () => {
  if (window.confirm('Skip to the next phase for everyone? The current one ends now.')) {
    timerCommand(CLIENT.SKIP_TIMER, el.timerSkip, 'Skipping…');
  }
});
el.timerReset.addEventListener('click', () => {
  if (window.confirm('Reset the timer for everyone? It goes back to an idle work phase and the pomodoro count starts over.')) {
    timerCommand(CLIENT.RESET_TIMER, el.timerReset, 'Resetting…');
  }
});
el.notifyButton.addEventListener('click', askNotify);
media.addEventListener('change', onMediaChange);
media.addEventListener('screenended', () => stopShare());
el.lobbyMic.addEventListener('click', toggleAudio);
el.lobbyCam.addEventListener('click', toggleVideo);
el.micButton.addEventListener('click', toggleAudio);
el.camButton.addEventListener('click', toggleVideo);
el.shareButton.addEventListener('click', toggleShare);
el.viewButton.addEventListener('click', toggleView);
panels.addEventListener('change', onPanelChange);
for (const [select, kind] of [[el.cameraSelect, 'video'], [el.roomCameraSelect, 'video'], [el.micSelect, 'audio'], [el.roomMicSelect, 'audio']]) {
  select.addEventListener('change', async () => {
    await media.useDevice(kind, select.value);
    renderDevices();
  });
}
// Device labels appear after permission, and devices come and go.
navigator.mediaDevices?.addEventListener?.('devicechange', () => renderDevices());
el.soundButton.addEventListener('click', () => {
  el.soundBlocked.hidden = true;
  call.stage.resume();
});
el.scroll.addEventListener('scroll', markRead, { passive: true });
document.addEventListener('visibilitychange', markRead);
buildEmojiPanel();
placeIcons();
el.emojiButton.addEventListener('click', () => setEmojiOpen(el.emojiPanel.hidden));
el.emojiPanel.addEventListener('click', (event) => {
  const b = event.target.closest('button[data-emoji]');
  if (!b) return;
  insertEmoji(b.dataset.emoji);
  setEmojiOpen(false);
});
el.emojiPanel.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    setEmojiOpen(false);
    el.emojiButton.focus();
  }
});
window.addEventListener('pagehide', () => {
  call.mesh?.close();
  media.stop();
});
// The first click or key press lets the page play the completion chime later.
const unlockAudio = () => {
  audio();
  document.removeEventListener('pointerdown', unlockAudio, true);
  document.removeEventListener('keydown', unlockAudio, true);
};
document.addEventListener('pointerdown', unlockAudio, true);
document.addEventListener('keydown', unlockAudio, true);

init();
