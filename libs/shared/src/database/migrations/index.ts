import { InitialSchema1795377556649 } from './1795377556649-InitialSchema';
import { LeanInboxEntries1796252580609 } from './1796252580609-LeanInboxEntries';
import { InboxUnreadCounter1797000000000 } from './1797000000000-InboxUnreadCounter';
import { SystemMessages1797100000000 } from './1797100000000-SystemMessages';
import { InboxEventSequence1797200000000 } from './1797200000000-InboxEventSequence';
import { InboxCountersFillfactor1797300000000 } from './1797300000000-InboxCountersFillfactor';

/** In order. Listed explicitly: globs break under bundling (nestjs/nest#5505). */
export const MIGRATIONS = [
  InitialSchema1795377556649,
  LeanInboxEntries1796252580609,
  InboxUnreadCounter1797000000000,
  SystemMessages1797100000000,
  InboxEventSequence1797200000000,
  InboxCountersFillfactor1797300000000,
];
